package dev.inherence.keycloak;

import org.junit.jupiter.api.Test;

import java.nio.charset.StandardCharsets;
import java.util.Base64;
import java.util.HashMap;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Configuration checks and the callback's open-redirect guard. */
class SettingsAndCallbackTest {
    private static Map<String, String> base() {
        Map<String, String> m = new HashMap<>();
        m.put(InherenceSettings.ISSUER, "https://inherence.example/");
        m.put(InherenceSettings.CLIENT_ID, "keycloak");
        m.put(InherenceSettings.CLIENT_AUTH, "client_secret_basic");
        m.put(InherenceSettings.CLIENT_SECRET, "s3cret");
        return m;
    }

    @Test
    void defaultsAreSafe() {
        InherenceSettings s = InherenceSettings.from(base());
        assertEquals("https://inherence.example", s.issuer);
        assertFalse(s.failOpen, "fail closed by default");
        assertEquals("biometric", s.acr);
        assertEquals("id", s.subjectMapping);
        assertNull(s.maxAge);
    }

    @Test
    void misconfigurationIsRefusedClearly() {
        Map<String, String> m = base();
        m.put(InherenceSettings.ISSUER, "http://inherence.example");
        assertTrue(assertThrows(IllegalArgumentException.class, () -> InherenceSettings.from(m)).getMessage().contains("https"));
        Map<String, String> n = base();
        n.remove(InherenceSettings.CLIENT_SECRET);
        assertThrows(IllegalArgumentException.class, () -> InherenceSettings.from(n));
        Map<String, String> k = base();
        k.put(InherenceSettings.CLIENT_AUTH, "private_key_jwt");
        assertTrue(assertThrows(IllegalArgumentException.class, () -> InherenceSettings.from(k)).getMessage().contains("private_key"));
        Map<String, String> q = base();
        q.put(InherenceSettings.SUBJECT, "email");
        assertThrows(IllegalArgumentException.class, () -> InherenceSettings.from(q));
        assertThrows(IllegalArgumentException.class, () -> InherenceSettings.from(null));
        Map<String, String> loop = base();
        loop.put(InherenceSettings.ISSUER, "http://127.0.0.1:8080");
        assertEquals("http://127.0.0.1:8080", InherenceSettings.from(loop).issuer);
        for (String bad : new String[] {"http://localhost.evil.example", "http://127.0.0.1.evil.example/",
                "https://inherence.example?x=1", "https://user@inherence.example"}) {
            Map<String, String> m2 = base();
            m2.put(InherenceSettings.ISSUER, bad);
            assertThrows(IllegalArgumentException.class, () -> InherenceSettings.from(m2), bad);
        }
        assertFalse(InherenceSettings.from(base()).selfEnrolment, "self-enrolment is opt-in");
    }

    @Test
    void theRefreshUrlLosesClientData() {
        assertEquals("https://kc/realms/r/login-actions/authenticate?execution=e&client_id=c&tab_id=t",
                Flows.withoutClientData("https://kc/realms/r/login-actions/authenticate?execution=e&client_id=c&tab_id=t&client_data=eyJ4Ijox"));
        assertEquals("https://kc/x?a=1&b=2", Flows.withoutClientData("https://kc/x?client_data=zz&a=1&b=2"));
        assertEquals("https://kc/x", Flows.withoutClientData("https://kc/x?client_data=zz"));
    }

    private static String state(String url) {
        return "r4nd0m." + Base64.getUrlEncoder().withoutPadding().encodeToString(url.getBytes(StandardCharsets.UTF_8));
    }

    @Test
    void callbackOnlyResumesThisRealmsLoginActions() {
        String realm = "https://kc.example/realms/bank";
        String ok = realm + "/login-actions/authenticate?client_id=app&tab_id=t&execution=e";
        assertEquals(ok, CallbackResource.resumeUrl(state(ok), realm));
        assertNull(CallbackResource.resumeUrl(state("https://evil.example/realms/bank/login-actions/x"), realm));
        assertNull(CallbackResource.resumeUrl(state("https://kc.example/realms/other/login-actions/x"), realm));
        assertNull(CallbackResource.resumeUrl(state("https://kc.example/realms/bank/account"), realm));
        assertNull(CallbackResource.resumeUrl(state(realm + "/login-actions/../../other/login-actions/x"), realm));
        assertNull(CallbackResource.resumeUrl(state(realm + "/login-actions/%2e%2e/x"), realm));
        assertNull(CallbackResource.resumeUrl("no-dot", realm));
        assertNull(CallbackResource.resumeUrl("x.!!!", realm));
        assertNull(CallbackResource.resumeUrl(null, realm));
    }

    @Test
    void pkceIsS256() {
        // RFC 7636 appendix B.
        assertEquals("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
                InherenceClient.s256("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"));
    }
}
