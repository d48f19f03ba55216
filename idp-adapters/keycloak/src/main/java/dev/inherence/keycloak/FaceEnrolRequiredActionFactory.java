package dev.inherence.keycloak;

import org.keycloak.Config;
import org.keycloak.authentication.RequiredActionFactory;
import org.keycloak.authentication.RequiredActionProvider;
import org.keycloak.models.KeycloakSession;
import org.keycloak.models.KeycloakSessionFactory;

/** Registers the "Set up face confirmation" required action. */
public final class FaceEnrolRequiredActionFactory implements RequiredActionFactory {
    public static final String ID = "inherence-face-enrol";

    private final InherenceClient.MetadataCache cache = new InherenceClient.MetadataCache(300_000);
    private final java.net.http.HttpClient http = InherenceClient.newHttpClient();

    @Override
    public String getDisplayText() {
        return "Set up face confirmation (Inherence)";
    }

    @Override
    public RequiredActionProvider create(KeycloakSession session) {
        return new FaceEnrolRequiredAction(cache, http);
    }

    @Override
    public void init(Config.Scope config) {
    }

    @Override
    public void postInit(KeycloakSessionFactory factory) {
    }

    @Override
    public void close() {
    }

    @Override
    public String getId() {
        return ID;
    }
}
