package dev.inherence.keycloak;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

import java.math.BigInteger;
import java.nio.charset.StandardCharsets;
import java.security.AlgorithmParameters;
import java.security.KeyFactory;
import java.security.PublicKey;
import java.security.Signature;
import java.security.spec.ECGenParameterSpec;
import java.security.spec.ECParameterSpec;
import java.security.spec.ECPoint;
import java.security.spec.ECPublicKeySpec;
import java.security.spec.RSAPublicKeySpec;
import java.util.Base64;
import java.util.Set;

/**
 * Validates Inherence's ID token, with the JDK only: signature (ES256 or RS256) from the JWKS,
 * then {@code iss}, {@code aud} / {@code azp}, {@code exp}, {@code nonce}, {@code sub},
 * {@code auth_time}, {@code acr} and {@code amr}. Pure: no Keycloak types, so it is unit-tested
 * on its own.
 */
public final class IdTokenValidator {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final long SKEW = 60;
    /**
     * How far {@code auth_time} may lie before the moment this sign-in started: only the clock
     * difference between Keycloak and Inherence (the face check itself happens after the start).
     */
    private static final long AUTH_TIME_SKEW = 5;

    /** Why a token was refused (the message names the failed check). */
    public static final class InvalidToken extends Exception {
        private static final long serialVersionUID = 1L;
        /** The token names a key the key set does not have (it may have rotated). */
        public final boolean unknownKey;

        public InvalidToken(String message) {
            this(message, false);
        }

        public InvalidToken(String message, boolean unknownKey) {
            super(message);
            this.unknownKey = unknownKey;
        }
    }

    /** What the token must say. */
    public record Expected(String issuer, String clientId, String nonce, String subject,
                           long startedAt, Set<String> acceptedAcr, boolean requireFace) {
    }

    private IdTokenValidator() {
    }

    /** Checks {@code token} against {@code jwks}; returns its claims. */
    public static JsonNode validate(String token, JsonNode jwks, Expected e, long now) throws InvalidToken {
        String[] parts = token == null ? new String[0] : token.split("\\.", -1);
        if (parts.length != 3) {
            throw new InvalidToken("the ID token is not a compact JWS");
        }
        JsonNode header = parse(parts[0]);
        JsonNode claims = parse(parts[1]);
        String alg = header.path("alg").asText("");
        String kid = header.path("kid").asText(null);
        JsonNode jwk = findKey(jwks, kid, alg);
        byte[] signingInput = (parts[0] + "." + parts[1]).getBytes(StandardCharsets.US_ASCII);
        byte[] sig = b64(parts[2]);
        if (!verify(alg, jwk, signingInput, sig)) {
            throw new InvalidToken("the ID token signature does not verify");
        }
        if (!e.issuer().equals(claims.path("iss").asText(null))) {
            throw new InvalidToken("iss is not " + e.issuer());
        }
        JsonNode aud = claims.path("aud");
        boolean audOk = aud.isTextual() ? aud.asText().equals(e.clientId()) : contains(aud, e.clientId());
        if (!audOk) {
            throw new InvalidToken("aud does not contain " + e.clientId());
        }
        if (aud.isArray() && aud.size() > 1 && !e.clientId().equals(claims.path("azp").asText(null))) {
            throw new InvalidToken("azp is not " + e.clientId());
        }
        if (!claims.path("exp").canConvertToLong() || claims.path("exp").asLong() + SKEW < now) {
            throw new InvalidToken("the ID token has expired");
        }
        if (e.nonce() == null || !constantTimeEquals(e.nonce(), claims.path("nonce").asText(""))) {
            throw new InvalidToken("nonce does not match");
        }
        if (!e.subject().equals(claims.path("sub").asText(null))) {
            throw new InvalidToken("sub is not the user being verified");
        }
        if (!claims.path("auth_time").canConvertToLong() || claims.path("auth_time").asLong() + AUTH_TIME_SKEW < e.startedAt()) {
            throw new InvalidToken("auth_time is before this authentication started");
        }
        if (e.acceptedAcr() != null && !e.acceptedAcr().contains(claims.path("acr").asText(""))) {
            throw new InvalidToken("acr " + claims.path("acr").asText("(none)") + " is not the requested level");
        }
        if (e.requireFace() && !contains(claims.path("amr"), "face")) {
            throw new InvalidToken("amr does not contain face");
        }
        return claims;
    }

    static boolean contains(JsonNode array, String value) {
        if (!array.isArray()) {
            return false;
        }
        for (JsonNode n : array) {
            if (value.equals(n.asText())) {
                return true;
            }
        }
        return false;
    }

    /** Constant-time string comparison. */
    public static boolean constantTimeEquals(String a, String b) {
        return java.security.MessageDigest.isEqual(
                a.getBytes(StandardCharsets.UTF_8), b.getBytes(StandardCharsets.UTF_8));
    }

    private static JsonNode parse(String part) throws InvalidToken {
        try {
            return JSON.readTree(b64(part));
        } catch (java.io.IOException ex) {
            throw new InvalidToken("the ID token is not JSON");
        }
    }

    static byte[] b64(String s) throws InvalidToken {
        try {
            return Base64.getUrlDecoder().decode(s);
        } catch (IllegalArgumentException ex) {
            throw new InvalidToken("the ID token is not base64url");
        }
    }

    private static JsonNode findKey(JsonNode jwks, String kid, String alg) throws InvalidToken {
        String kty = switch (alg) {
            case "ES256" -> "EC";
            case "RS256" -> "RSA";
            default -> throw new InvalidToken("algorithm " + alg + " is not accepted");
        };
        for (JsonNode k : jwks.path("keys")) {
            boolean kidOk = kid == null || kid.equals(k.path("kid").asText(null));
            boolean use = !k.has("use") || "sig".equals(k.path("use").asText());
            if (kidOk && use && kty.equals(k.path("kty").asText())) {
                return k;
            }
        }
        throw new InvalidToken("no key " + kid + " in Inherence's JWKS", true);
    }

    private static boolean verify(String alg, JsonNode jwk, byte[] input, byte[] sig) throws InvalidToken {
        try {
            PublicKey key;
            Signature s;
            if ("ES256".equals(alg)) {
                AlgorithmParameters p = AlgorithmParameters.getInstance("EC");
                p.init(new ECGenParameterSpec("secp256r1"));
                ECParameterSpec spec = p.getParameterSpec(ECParameterSpec.class);
                ECPoint point = new ECPoint(new BigInteger(1, b64(jwk.path("x").asText())),
                        new BigInteger(1, b64(jwk.path("y").asText())));
                key = KeyFactory.getInstance("EC").generatePublic(new ECPublicKeySpec(point, spec));
                s = Signature.getInstance("SHA256withECDSAinP1363Format");
                if (sig.length != 64) {
                    return false;
                }
            } else {
                key = KeyFactory.getInstance("RSA").generatePublic(new RSAPublicKeySpec(
                        new BigInteger(1, b64(jwk.path("n").asText())),
                        new BigInteger(1, b64(jwk.path("e").asText()))));
                s = Signature.getInstance("SHA256withRSA");
            }
            s.initVerify(key);
            s.update(input);
            return s.verify(sig);
        } catch (java.security.GeneralSecurityException ex) {
            throw new InvalidToken("the signing key is unusable: " + ex.getMessage());
        }
    }
}
