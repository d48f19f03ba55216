package dev.inherence.keycloak;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.math.BigInteger;
import java.nio.charset.StandardCharsets;
import java.security.KeyPair;
import java.security.KeyPairGenerator;
import java.security.Signature;
import java.security.interfaces.ECPublicKey;
import java.security.interfaces.RSAPublicKey;
import java.security.spec.ECGenParameterSpec;
import java.util.Base64;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.Consumer;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Every check of the ID-token validation, with real ES256 and RS256 signatures. */
class IdTokenValidatorTest {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final String ISS = "https://inherence.example";
    private static final long NOW = 1_800_000_000L;
    private static KeyPair ec;
    private static KeyPair rsa;
    private static KeyPair otherEc;
    private static JsonNode jwks;

    private static String b64(byte[] b) {
        return Base64.getUrlEncoder().withoutPadding().encodeToString(b);
    }

    private static String unsigned(BigInteger v, int len) {
        byte[] b = v.toByteArray();
        if (b.length == len) {
            return b64(b);
        }
        byte[] out = new byte[len];
        System.arraycopy(b, Math.max(0, b.length - len), out, Math.max(0, len - b.length), Math.min(len, b.length));
        return b64(out);
    }

    @BeforeAll
    static void keys() throws Exception {
        KeyPairGenerator g = KeyPairGenerator.getInstance("EC");
        g.initialize(new ECGenParameterSpec("secp256r1"));
        ec = g.generateKeyPair();
        otherEc = g.generateKeyPair();
        KeyPairGenerator r = KeyPairGenerator.getInstance("RSA");
        r.initialize(2048);
        rsa = r.generateKeyPair();
        ECPublicKey p = (ECPublicKey) ec.getPublic();
        RSAPublicKey rp = (RSAPublicKey) rsa.getPublic();
        jwks = JSON.valueToTree(Map.of("keys", List.of(
                Map.of("kty", "EC", "crv", "P-256", "kid", "ec1", "use", "sig",
                        "x", unsigned(p.getW().getAffineX(), 32), "y", unsigned(p.getW().getAffineY(), 32)),
                Map.of("kty", "RSA", "kid", "rsa1", "n", b64(rp.getModulus().toByteArray()),
                        "e", b64(rp.getPublicExponent().toByteArray())))));
    }

    private static Map<String, Object> claims() {
        Map<String, Object> c = new LinkedHashMap<>();
        c.put("iss", ISS);
        c.put("aud", "keycloak");
        c.put("sub", "user-1");
        c.put("nonce", "n-123");
        c.put("exp", NOW + 300);
        c.put("iat", NOW);
        c.put("auth_time", NOW - 5);
        c.put("acr", "biometric");
        c.put("amr", List.of("face"));
        return c;
    }

    private static String sign(String alg, String kid, KeyPair key, Map<String, Object> claims) throws Exception {
        String input = b64(JSON.writeValueAsBytes(Map.of("alg", alg, "kid", kid))) + "." + b64(JSON.writeValueAsBytes(claims));
        Signature s = Signature.getInstance(alg.equals("ES256") ? "SHA256withECDSAinP1363Format" : "SHA256withRSA");
        s.initSign(key.getPrivate());
        s.update(input.getBytes(StandardCharsets.US_ASCII));
        return input + "." + b64(s.sign());
    }

    private static IdTokenValidator.Expected expected() {
        return new IdTokenValidator.Expected(ISS, "keycloak", "n-123", "user-1", NOW - 10, Set.of("biometric"), true);
    }

    private static String refusal(Consumer<Map<String, Object>> change) throws Exception {
        Map<String, Object> c = claims();
        change.accept(c);
        String t = sign("ES256", "ec1", ec, c);
        return assertThrows(IdTokenValidator.InvalidToken.class,
                () -> IdTokenValidator.validate(t, jwks, expected(), NOW)).getMessage();
    }

    @Test
    void acceptsAValidEs256AndRs256Token() throws Exception {
        JsonNode c = IdTokenValidator.validate(sign("ES256", "ec1", ec, claims()), jwks, expected(), NOW);
        assertEquals("user-1", c.path("sub").asText());
        IdTokenValidator.validate(sign("RS256", "rsa1", rsa, claims()), jwks, expected(), NOW);
    }

    @Test
    void refusesEachFailedCheck() throws Exception {
        assertTrue(refusal(c -> c.put("iss", "https://evil.example")).contains("iss"));
        assertTrue(refusal(c -> c.put("aud", "someone-else")).contains("aud"));
        assertTrue(refusal(c -> c.put("aud", List.of("keycloak", "other"))).contains("azp"));
        assertTrue(refusal(c -> c.put("exp", NOW - 3600)).contains("expired"));
        assertTrue(refusal(c -> c.put("nonce", "replayed")).contains("nonce"));
        assertTrue(refusal(c -> c.remove("nonce")).contains("nonce"));
        assertTrue(refusal(c -> c.put("sub", "user-2")).contains("sub"));
        assertTrue(refusal(c -> c.put("auth_time", NOW - 3600)).contains("auth_time"));
        // An earlier face check (started at NOW - 10): only a few seconds of clock skew pass.
        assertTrue(refusal(c -> c.put("auth_time", NOW - 16)).contains("auth_time"));
        assertTrue(refusal(c -> c.put("acr", "0")).contains("acr"));
        assertTrue(refusal(c -> c.put("amr", List.of("pwd"))).contains("amr"));
        assertTrue(refusal(c -> c.remove("amr")).contains("amr"));
    }

    @Test
    void refusesBadSignaturesAndAlgorithms() throws Exception {
        String forged = sign("ES256", "ec1", otherEc, claims());
        assertThrows(IdTokenValidator.InvalidToken.class, () -> IdTokenValidator.validate(forged, jwks, expected(), NOW));
        String good = sign("ES256", "ec1", ec, claims());
        String[] p = good.split("\\.");
        Map<String, Object> tampered = claims();
        tampered.put("sub", "user-1 ");
        String swapped = p[0] + "." + b64(JSON.writeValueAsBytes(tampered)) + "." + p[2];
        assertThrows(IdTokenValidator.InvalidToken.class, () -> IdTokenValidator.validate(swapped, jwks, expected(), NOW));
        String none = b64("{\"alg\":\"none\"}".getBytes(StandardCharsets.UTF_8)) + "." + p[1] + ".";
        assertTrue(assertThrows(IdTokenValidator.InvalidToken.class,
                () -> IdTokenValidator.validate(none, jwks, expected(), NOW)).getMessage().contains("not accepted"));
        String hs = b64("{\"alg\":\"HS256\",\"kid\":\"ec1\"}".getBytes(StandardCharsets.UTF_8)) + "." + p[1] + "." + p[2];
        assertThrows(IdTokenValidator.InvalidToken.class, () -> IdTokenValidator.validate(hs, jwks, expected(), NOW));
        String unknownKid = sign("ES256", "nope", ec, claims());
        assertTrue(assertThrows(IdTokenValidator.InvalidToken.class,
                () -> IdTokenValidator.validate(unknownKid, jwks, expected(), NOW)).getMessage().contains("no key"));
        assertThrows(IdTokenValidator.InvalidToken.class, () -> IdTokenValidator.validate("a.b", jwks, expected(), NOW));
        assertThrows(IdTokenValidator.InvalidToken.class, () -> IdTokenValidator.validate(null, jwks, expected(), NOW));
    }

    @Test
    void enrolmentTokensNeedNoFaceAmrOrAcr() throws Exception {
        Map<String, Object> c = claims();
        c.put("acr", "0");
        c.put("amr", List.of());
        IdTokenValidator.Expected enrol = new IdTokenValidator.Expected(ISS, "keycloak", "n-123", "user-1", NOW - 10, null, false);
        IdTokenValidator.validate(sign("ES256", "ec1", ec, c), jwks, enrol, NOW);
    }
}
