package dev.inherence.keycloak;

import jakarta.ws.rs.core.MultivaluedMap;
import org.keycloak.models.AuthenticatorConfigModel;
import org.keycloak.models.RealmModel;
import org.keycloak.models.UserModel;
import org.keycloak.sessions.AuthenticationSessionModel;

import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.util.Base64;
import java.util.Map;

/**
 * What the authenticator and the required action share: the fixed callback, the notes kept in
 * the authentication session, the subject mapping, and the return leg.
 */
final class Flows {
    static final String USER_ENROLLED = "inherence_face_enrolled";
    static final String NOTE_STATE = "inherence.state";
    static final String NOTE_NONCE = "inherence.nonce";
    static final String NOTE_VERIFIER = "inherence.verifier";
    static final String NOTE_STARTED = "inherence.started";
    static final String NOTE_SUBJECT = "inherence.subject";

    private Flows() {
    }

    /** {@code {keycloak}/realms/{realm}} with the realm name encoded as a path segment. */
    static String realmBase(URI keycloakBase, String realm) {
        return jakarta.ws.rs.core.UriBuilder.fromUri(keycloakBase).path("realms").path("{realm}")
                .build(realm).toString().replaceAll("/$", "");
    }

    /** The fixed redirect URI registered at Inherence for this realm. */
    static String callbackUri(URI keycloakBase, RealmModel realm) {
        return realmBase(keycloakBase, realm.getName()) + "/" + CallbackResourceFactory.ID + "/callback";
    }

    /**
     * The refresh URL without {@code client_data} (the client's redirect_uri and state, which
     * Inherence need not see; Keycloak needs it only after the authentication session expired).
     */
    static String withoutClientData(String url) {
        return url.replaceAll("([?&])client_data=[^&]*&?", "$1").replaceAll("[?&]$", "");
    }

    /** The Inherence subject of a Keycloak user, or null when the mapping yields nothing. */
    static String subject(InherenceSettings s, UserModel user) {
        if (s.subjectMapping.equals("id")) {
            return user.getId();
        }
        if (s.subjectMapping.equals("username")) {
            return user.getUsername();
        }
        String v = user.getFirstAttribute(s.subjectMapping.substring("attribute:".length()));
        return v == null || v.isBlank() ? null : v;
    }

    /** Encodes where the browser resumes in Keycloak into the state's suffix. */
    static String stateSuffix(String returnUrl) {
        return Base64.getUrlEncoder().withoutPadding().encodeToString(returnUrl.getBytes(StandardCharsets.UTF_8));
    }

    static void remember(AuthenticationSessionModel a, InherenceClient.Started st, String subject) {
        a.setAuthNote(NOTE_STATE, st.state());
        a.setAuthNote(NOTE_NONCE, st.nonce());
        a.setAuthNote(NOTE_VERIFIER, st.verifier());
        a.setAuthNote(NOTE_STARTED, String.valueOf(st.startedAt()));
        a.setAuthNote(NOTE_SUBJECT, subject);
    }

    /** True when this request is the browser coming back from Inherence. */
    static boolean isReturn(MultivaluedMap<String, String> q) {
        return q.getFirst("inh_state") != null;
    }

    /**
     * Checks the return leg and exchanges the code; the notes are consumed whatever happens
     * (single use). Throws Refused with a user-presentable reason.
     */
    static void finish(AuthenticationSessionModel a, MultivaluedMap<String, String> q, InherenceClient client,
                       String redirectUri, boolean enrol) throws InherenceClient.Unavailable, InherenceClient.Refused {
        String expectedState = a.getAuthNote(NOTE_STATE);
        String nonce = a.getAuthNote(NOTE_NONCE);
        String verifier = a.getAuthNote(NOTE_VERIFIER);
        String started = a.getAuthNote(NOTE_STARTED);
        String subject = a.getAuthNote(NOTE_SUBJECT);
        for (String n : new String[] {NOTE_STATE, NOTE_NONCE, NOTE_VERIFIER, NOTE_STARTED, NOTE_SUBJECT}) {
            a.removeAuthNote(n);
        }
        String state = q.getFirst("inh_state");
        if (expectedState == null || state == null || !IdTokenValidator.constantTimeEquals(expectedState, state)) {
            throw new InherenceClient.Refused("the response does not belong to this sign-in (state)");
        }
        String error = q.getFirst("inh_error");
        if (error != null) {
            String d = q.getFirst("inh_error_description");
            throw new InherenceClient.Refused(error.equals("access_denied") ? "the face check was cancelled"
                    : "the face check did not succeed" + (d == null ? "" : " (" + d + ")"));
        }
        String code = q.getFirst("inh_code");
        if (code == null) {
            throw new InherenceClient.Refused("the response carries no code");
        }
        client.finish(code, q.getFirst("inh_iss"), redirectUri, verifier, nonce, subject,
                Long.parseLong(started), enrol);
    }

    /** Settings of the Inherence execution of this realm (the required action has no config). */
    static Map<String, String> realmConfig(RealmModel realm) {
        return realm.getAuthenticationFlowsStream()
                .flatMap(f -> realm.getAuthenticationExecutionsStream(f.getId()))
                .filter(e -> FaceStepUpAuthenticatorFactory.ID.equals(e.getAuthenticator()) && e.getAuthenticatorConfig() != null)
                .map(e -> realm.getAuthenticatorConfigById(e.getAuthenticatorConfig()))
                .filter(java.util.Objects::nonNull)
                .map(AuthenticatorConfigModel::getConfig)
                .findFirst()
                .orElse(null);
    }
}
