package dev.inherence.keycloak;

import jakarta.ws.rs.core.MultivaluedHashMap;
import jakarta.ws.rs.core.MultivaluedMap;
import org.junit.jupiter.api.Test;
import org.keycloak.sessions.AuthenticationSessionModel;

import java.lang.reflect.Proxy;
import java.util.HashMap;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The return leg's checks that come before any network call: the state must be this sign-in's
 * (and is single use), and the RFC 9207 {@code iss} must be the configured issuer.
 */
class CallbackChecksTest {
    private static final String ISSUER = "https://inherence.example";

    /** An authentication session that only keeps notes (what {@link Flows#finish} uses). */
    private static AuthenticationSessionModel session(Map<String, String> notes) {
        return (AuthenticationSessionModel) Proxy.newProxyInstance(
                CallbackChecksTest.class.getClassLoader(),
                new Class<?>[] {AuthenticationSessionModel.class},
                (proxy, method, args) -> switch (method.getName()) {
                    case "getAuthNote" -> notes.get((String) args[0]);
                    case "setAuthNote" -> notes.put((String) args[0], (String) args[1]);
                    case "removeAuthNote" -> notes.remove((String) args[0]);
                    default -> throw new UnsupportedOperationException(method.getName());
                });
    }

    private static Map<String, String> started(String state) {
        Map<String, String> n = new HashMap<>();
        n.put(Flows.NOTE_STATE, state);
        n.put(Flows.NOTE_NONCE, "nonce");
        n.put(Flows.NOTE_VERIFIER, "verifier");
        n.put(Flows.NOTE_STARTED, "1800000000");
        n.put(Flows.NOTE_SUBJECT, "user-1");
        return n;
    }

    private static MultivaluedMap<String, String> callback(String state, String iss) {
        MultivaluedMap<String, String> q = new MultivaluedHashMap<>();
        if (state != null) {
            q.add("inh_state", state);
        }
        q.add("inh_code", "code");
        if (iss != null) {
            q.add("inh_iss", iss);
        }
        return q;
    }

    private static InherenceClient client() {
        Map<String, String> m = new HashMap<>();
        m.put(InherenceSettings.ISSUER, ISSUER);
        m.put(InherenceSettings.CLIENT_ID, "keycloak");
        m.put(InherenceSettings.CLIENT_AUTH, "client_secret_basic");
        m.put(InherenceSettings.CLIENT_SECRET, "s3cret");
        // No request may leave: the checks under test come first.
        return new InherenceClient(InherenceSettings.from(m), new InherenceClient.MetadataCache(1000), null);
    }

    private static String refusal(AuthenticationSessionModel a, MultivaluedMap<String, String> q) {
        return assertThrows(InherenceClient.Refused.class,
                () -> Flows.finish(a, q, client(), "https://kc/cb", false)).getMessage();
    }

    @Test
    void anotherSignInsStateIsRefused() {
        assertTrue(refusal(session(started("s-1")), callback("s-2", ISSUER)).contains("state"));
        assertTrue(refusal(session(started("s-1")), callback(null, ISSUER)).contains("state"));
        assertTrue(refusal(session(new HashMap<>()), callback("s-1", ISSUER)).contains("state"),
                "no sign-in started");
    }

    @Test
    void theStateIsSingleUse() {
        AuthenticationSessionModel a = session(started("s-1"));
        // The first return passes the state check (and stops at the issuer check below).
        assertTrue(refusal(a, callback("s-1", "https://evil.example")).contains("issuer"));
        assertTrue(refusal(a, callback("s-1", ISSUER)).contains("state"), "replayed callback");
    }

    @Test
    void anotherIssuerIsRefused() {
        assertTrue(refusal(session(started("s-1")), callback("s-1", "https://evil.example")).contains("issuer"));
        assertTrue(refusal(session(started("s-1")), callback("s-1", ISSUER + "/")).contains("issuer"));
        assertTrue(refusal(session(started("s-1")), callback("s-1", null)).contains("issuer"),
                "RFC 9207: iss is required");
    }
}
