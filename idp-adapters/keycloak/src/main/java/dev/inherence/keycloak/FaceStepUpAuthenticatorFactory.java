package dev.inherence.keycloak;

import org.keycloak.Config;
import org.keycloak.authentication.Authenticator;
import org.keycloak.authentication.AuthenticatorFactory;
import org.keycloak.models.AuthenticationExecutionModel;
import org.keycloak.models.KeycloakSession;
import org.keycloak.models.KeycloakSessionFactory;
import org.keycloak.provider.ProviderConfigProperty;

import java.util.ArrayList;
import java.util.List;

/** Registers the face check ("Inherence face check") in the flow editor. */
public final class FaceStepUpAuthenticatorFactory implements AuthenticatorFactory {
    public static final String ID = "inherence-face";

    private static final AuthenticationExecutionModel.Requirement[] REQUIREMENTS = {
        AuthenticationExecutionModel.Requirement.REQUIRED,
        AuthenticationExecutionModel.Requirement.DISABLED,
    };

    private final InherenceClient.MetadataCache cache = new InherenceClient.MetadataCache(300_000);
    private final java.net.http.HttpClient http = InherenceClient.newHttpClient();

    @Override
    public String getId() {
        return ID;
    }

    @Override
    public String getDisplayType() {
        return "Inherence face check";
    }

    @Override
    public String getReferenceCategory() {
        return "face";
    }

    @Override
    public boolean isConfigurable() {
        return true;
    }

    @Override
    public AuthenticationExecutionModel.Requirement[] getRequirementChoices() {
        return REQUIREMENTS.clone();
    }

    @Override
    public boolean isUserSetupAllowed() {
        return true;
    }

    @Override
    public String getHelpText() {
        return "Confirms the user with a live face check (passive liveness + 1:1 match) on Inherence, "
                + "an OpenID provider; replaces an SMS one-time code.";
    }

    private static ProviderConfigProperty prop(String name, String label, String help, String type, Object def) {
        ProviderConfigProperty p = new ProviderConfigProperty(name, label, help, type, def);
        return p;
    }

    @Override
    public List<ProviderConfigProperty> getConfigProperties() {
        List<ProviderConfigProperty> l = new ArrayList<>();
        l.add(prop(InherenceSettings.ISSUER, "Inherence issuer URL",
                "The issuer of your Inherence server, e.g. https://inherence.example.com", ProviderConfigProperty.STRING_TYPE, null));
        l.add(prop(InherenceSettings.CLIENT_ID, "Client ID", "This realm's client id at Inherence",
                ProviderConfigProperty.STRING_TYPE, null));
        ProviderConfigProperty auth = prop(InherenceSettings.CLIENT_AUTH, "Client authentication",
                "private_key_jwt (recommended) or client_secret_basic", ProviderConfigProperty.LIST_TYPE, "private_key_jwt");
        auth.setOptions(List.of("private_key_jwt", "client_secret_basic"));
        l.add(auth);
        ProviderConfigProperty key = prop(InherenceSettings.PRIVATE_KEY, "Private key (private_key_jwt)",
                "EC P-256 private key, PKCS#8 PEM or its base64 body; register the public key at Inherence",
                ProviderConfigProperty.TEXT_TYPE, null);
        key.setSecret(true);
        l.add(key);
        l.add(prop(InherenceSettings.KEY_ID, "Key id (private_key_jwt)", "Optional kid of that key",
                ProviderConfigProperty.STRING_TYPE, null));
        ProviderConfigProperty secret = prop(InherenceSettings.CLIENT_SECRET, "Client secret (client_secret_basic)",
                "Only with client_secret_basic", ProviderConfigProperty.PASSWORD, null);
        secret.setSecret(true);
        l.add(secret);
        l.add(prop(InherenceSettings.ACR, "Requested acr", "acr requested from Inherence and required in its ID token",
                ProviderConfigProperty.STRING_TYPE, "biometric"));
        l.add(prop(InherenceSettings.MAX_AGE, "max_age (seconds)", "Optional; 0 forces a fresh face check",
                ProviderConfigProperty.STRING_TYPE, null));
        l.add(prop(InherenceSettings.SUBJECT, "Subject mapping",
                "Which user value is the subject at Inherence: id (Keycloak user id), username, or attribute:NAME",
                ProviderConfigProperty.STRING_TYPE, "id"));
        l.add(prop(InherenceSettings.FAIL_OPEN, "Fail open",
                "If Inherence is unreachable when the check would start, let users continue WITHOUT a face check "
                        + "(their sign-in still counts as level 2). Off: refuse (fail closed).",
                ProviderConfigProperty.BOOLEAN_TYPE, "false"));
        l.add(prop(InherenceSettings.SELF_ENROLMENT, "Self-enrolment",
                "Users without a face record it at their first level-2 sign-in (required action); this trusts level 1 "
                        + "(the password) once. Off: only faces enrolled by your back office pass.",
                ProviderConfigProperty.BOOLEAN_TYPE, "false"));
        l.add(prop(InherenceSettings.TIMEOUT, "Timeout (ms)", "Back-channel timeout",
                ProviderConfigProperty.STRING_TYPE, "5000"));
        // Keycloak adds its own "Authenticator Reference" / "Max Age" fields (the AMR mapper's
        // default.reference.value / default.reference.maxAge); set them to face / 300.
        return l;
    }

    @Override
    public Authenticator create(KeycloakSession session) {
        return new FaceStepUpAuthenticator(cache, http);
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
}
