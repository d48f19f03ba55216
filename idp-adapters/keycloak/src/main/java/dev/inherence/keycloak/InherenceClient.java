package dev.inherence.keycloak;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

import java.io.IOException;
import java.net.URI;
import java.net.URLEncoder;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.security.KeyFactory;
import java.security.MessageDigest;
import java.security.PrivateKey;
import java.security.SecureRandom;
import java.security.Signature;
import java.security.spec.PKCS8EncodedKeySpec;
import java.time.Duration;
import java.util.Base64;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Set;
import java.util.StringJoiner;

/**
 * Inherence as seen by the adapter: discovery, pushed authorization requests, the code exchange
 * and ID-token validation. Uses the JDK's HTTP client and crypto only.
 */
public final class InherenceClient {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final SecureRandom RANDOM = new SecureRandom();

    /**
     * Inherence could not be used. {@link #transport} is true only when it could not be reached
     * at all (connection refused, timeout, 5xx): the only case the fail-open switch covers.
     */
    public static final class Unavailable extends Exception {
        private static final long serialVersionUID = 1L;
        public final boolean transport;

        public Unavailable(String message, Throwable cause) {
            this(message, cause, false);
        }

        public Unavailable(String message, Throwable cause, boolean transport) {
            super(message, cause);
            this.transport = transport;
        }
    }

    /** Inherence answered, and the answer says no (never fail-open). */
    public static final class Refused extends Exception {
        private static final long serialVersionUID = 1L;

        public Refused(String message) {
            super(message);
        }
    }

    /** A started step-up: where to send the browser and what to remember. */
    public record Started(String authorizeUrl, String state, String nonce, String verifier, long startedAt) {
    }

    /** Discovery documents and key sets, kept for a few minutes (shared by one Keycloak node). */
    public static final class MetadataCache {
        private record Entry(JsonNode value, long until) {
        }

        private final java.util.concurrent.ConcurrentHashMap<String, Entry> entries = new java.util.concurrent.ConcurrentHashMap<>();
        private final long ttlMillis;

        public MetadataCache(long ttlMillis) {
            this.ttlMillis = ttlMillis;
        }

        JsonNode get(String url) {
            Entry e = entries.get(url);
            return e != null && e.until() > System.currentTimeMillis() ? e.value() : null;
        }

        void put(String url, JsonNode v) {
            entries.put(url, new Entry(v, System.currentTimeMillis() + ttlMillis));
        }

        void forget(String url) {
            entries.remove(url);
        }
    }

    private final InherenceSettings cfg;
    private final HttpClient http;
    private final MetadataCache cache;

    /** One HTTP client per Keycloak node (connections and TLS sessions are reused). */
    public static HttpClient newHttpClient() {
        return HttpClient.newBuilder()
                .connectTimeout(Duration.ofSeconds(10))
                .followRedirects(HttpClient.Redirect.NEVER)
                .build();
    }

    public InherenceClient(InherenceSettings cfg, MetadataCache cache, HttpClient http) {
        this.cfg = cfg;
        this.cache = cache;
        this.http = http;
    }

    /** 32 random bytes, base64url. */
    public static String random() {
        byte[] b = new byte[32];
        RANDOM.nextBytes(b);
        return Base64.getUrlEncoder().withoutPadding().encodeToString(b);
    }

    static String s256(String verifier) {
        try {
            byte[] d = MessageDigest.getInstance("SHA-256").digest(verifier.getBytes(StandardCharsets.US_ASCII));
            return Base64.getUrlEncoder().withoutPadding().encodeToString(d);
        } catch (java.security.NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    private JsonNode getCached(String url) throws Unavailable {
        JsonNode v = cache.get(url);
        if (v == null) {
            v = getJson(url);
            cache.put(url, v);
        }
        return v;
    }

    private JsonNode getJson(String url) throws Unavailable {
        try {
            HttpResponse<String> r = http.send(HttpRequest.newBuilder(URI.create(url))
                    .timeout(Duration.ofMillis(cfg.timeoutMs)).header("Accept", "application/json").GET().build(),
                    HttpResponse.BodyHandlers.ofString());
            if (r.statusCode() != 200) {
                throw new Unavailable(url + " answered " + r.statusCode(), null, r.statusCode() >= 500);
            }
            try {
                return JSON.readTree(r.body());
            } catch (IOException e) {
                throw new Unavailable(url + " did not answer JSON", e);
            }
        } catch (IOException e) {
            throw new Unavailable("cannot reach " + url + ": " + e.getMessage(), e, true);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new Unavailable("interrupted", e, true);
        }
    }

    private static boolean absolute(JsonNode d, String field) {
        String v = d.path(field).asText("");
        return v.startsWith("https://") || v.startsWith("http://127.0.0.1") || v.startsWith("http://localhost");
    }

    /** The provider metadata; its issuer must be exactly the configured one. */
    public JsonNode discovery() throws Unavailable {
        JsonNode d = getCached(cfg.issuer + "/.well-known/openid-configuration");
        if (!cfg.issuer.equals(d.path("issuer").asText(null))) {
            throw new Unavailable("the discovery document names another issuer", null);
        }
        for (String f : new String[] {"authorization_endpoint", "token_endpoint", "jwks_uri",
                "pushed_authorization_request_endpoint"}) {
            if (!absolute(d, f)) {
                throw new Unavailable("the discovery document has no usable " + f, null);
            }
        }
        return d;
    }

    private static String form(Map<String, String> params) {
        StringJoiner j = new StringJoiner("&");
        params.forEach((k, v) -> {
            if (v != null) {
                j.add(URLEncoder.encode(k, StandardCharsets.UTF_8) + "=" + URLEncoder.encode(v, StandardCharsets.UTF_8));
            }
        });
        return j.toString();
    }

    /** Adds client authentication to a back-channel request. */
    private HttpRequest.Builder authenticated(String endpoint, Map<String, String> params) throws Unavailable {
        HttpRequest.Builder b = HttpRequest.newBuilder(URI.create(endpoint))
                .timeout(Duration.ofMillis(cfg.timeoutMs))
                .header("Content-Type", "application/x-www-form-urlencoded")
                .header("Accept", "application/json");
        if (cfg.clientAuth == InherenceSettings.ClientAuth.CLIENT_SECRET_BASIC) {
            String pair = URLEncoder.encode(cfg.clientId, StandardCharsets.UTF_8) + ":"
                    + URLEncoder.encode(cfg.clientSecret, StandardCharsets.UTF_8);
            b.header("Authorization", "Basic " + Base64.getEncoder().encodeToString(pair.getBytes(StandardCharsets.UTF_8)));
        } else {
            params.put("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer");
            params.put("client_assertion", clientAssertion(endpoint));
        }
        params.put("client_id", cfg.clientId);
        return b.POST(HttpRequest.BodyPublishers.ofString(form(params)));
    }

    /** An ES256 client assertion (RFC 7523) for {@code audience}. */
    String clientAssertion(String audience) throws Unavailable {
        try {
            long now = System.currentTimeMillis() / 1000;
            Map<String, Object> header = new LinkedHashMap<>();
            header.put("alg", "ES256");
            header.put("typ", "JWT");
            if (cfg.keyId != null) {
                header.put("kid", cfg.keyId);
            }
            Map<String, Object> claims = new LinkedHashMap<>();
            claims.put("iss", cfg.clientId);
            claims.put("sub", cfg.clientId);
            claims.put("aud", cfg.issuer);
            claims.put("jti", random());
            claims.put("iat", now);
            claims.put("exp", now + 60);
            Base64.Encoder enc = Base64.getUrlEncoder().withoutPadding();
            String input = enc.encodeToString(JSON.writeValueAsBytes(header)) + "."
                    + enc.encodeToString(JSON.writeValueAsBytes(claims));
            Signature s = Signature.getInstance("SHA256withECDSAinP1363Format");
            s.initSign(privateKey(cfg.privateKeyPem));
            s.update(input.getBytes(StandardCharsets.US_ASCII));
            return input + "." + enc.encodeToString(s.sign());
        } catch (IOException | java.security.GeneralSecurityException | IllegalArgumentException e) {
            throw new Unavailable("cannot sign the client assertion (check " + InherenceSettings.PRIVATE_KEY + ")", e);
        }
    }

    static PrivateKey privateKey(String pem) throws java.security.GeneralSecurityException {
        String body = pem.replaceAll("-----[A-Z ]+-----", "").replace("\\n", "").replaceAll("\\s", "");
        return KeyFactory.getInstance("EC").generatePrivate(new PKCS8EncodedKeySpec(Base64.getDecoder().decode(body)));
    }

    private JsonNode post(HttpRequest req, String what) throws Unavailable, Refused {
        try {
            HttpResponse<String> r = http.send(req, HttpResponse.BodyHandlers.ofString());
            if (r.statusCode() >= 500) {
                throw new Unavailable(what + " failed with " + r.statusCode(), null, true);
            }
            JsonNode body;
            try {
                body = r.body().isEmpty() ? JSON.createObjectNode() : JSON.readTree(r.body());
            } catch (IOException e) {
                throw new Refused(what + " answered " + r.statusCode() + " without JSON");
            }
            if (r.statusCode() >= 300) {
                throw new Refused(what + " refused: " + body.path("error").asText("")
                        + " " + body.path("error_description").asText(""));
            }
            return body;
        } catch (IOException e) {
            throw new Unavailable("cannot reach Inherence for " + what + ": " + e.getMessage(), e, true);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new Unavailable("interrupted", e, true);
        }
    }

    /**
     * Starts a face check (or, with {@code enrol}, a first enrolment) for {@code subject}: a PAR
     * with PKCE, state and nonce; returns where to send the browser.
     */
    public Started start(String subject, String redirectUri, String stateSuffix, boolean enrol,
                         String authorizationDetails) throws Unavailable, Refused {
        JsonNode d = discovery();
        String state = stateSuffix == null ? random() : random() + "." + stateSuffix;
        String nonce = random();
        String verifier = random();
        Map<String, String> p = new LinkedHashMap<>();
        p.put("response_type", "code");
        p.put("redirect_uri", redirectUri);
        p.put("scope", "openid");
        p.put("state", state);
        p.put("nonce", nonce);
        p.put("code_challenge", s256(verifier));
        p.put("code_challenge_method", "S256");
        p.put("login_hint", subject);
        if (enrol) {
            p.put("prompt", "create");
        } else {
            p.put("acr_values", cfg.acr);
            try {
                p.put("claims", JSON.writeValueAsString(Map.of("id_token",
                        Map.of("acr", Map.of("essential", true, "values", java.util.List.of(cfg.acr))))));
            } catch (IOException e) {
                throw new Unavailable("cannot encode the claims request", e);
            }
            if (cfg.maxAge != null) {
                p.put("max_age", String.valueOf(cfg.maxAge));
            }
            if (authorizationDetails != null && !authorizationDetails.isBlank()) {
                p.put("authorization_details", authorizationDetails);
            }
        }
        String par = d.path("pushed_authorization_request_endpoint").asText(null);
        if (par == null) {
            throw new Unavailable("Inherence does not advertise a PAR endpoint", null);
        }
        JsonNode r = post(authenticated(par, p).build(), "the pushed authorization request");
        String requestUri = r.path("request_uri").asText(null);
        if (requestUri == null) {
            throw new Unavailable("the PAR answer has no request_uri", null);
        }
        String authorize = d.path("authorization_endpoint").asText() + "?client_id="
                + URLEncoder.encode(cfg.clientId, StandardCharsets.UTF_8) + "&request_uri="
                + URLEncoder.encode(requestUri, StandardCharsets.UTF_8);
        return new Started(authorize, state, nonce, verifier, System.currentTimeMillis() / 1000);
    }

    /**
     * Exchanges the code and validates the ID token. {@code iss} is the callback's RFC 9207
     * parameter and must be the configured issuer.
     */
    public JsonNode finish(String code, String iss, String redirectUri, String verifier, String nonce,
                           String subject, long startedAt, boolean enrol) throws Unavailable, Refused {
        if (iss == null || !cfg.issuer.equals(iss)) {
            throw new Refused("the response names another issuer (iss)");
        }
        JsonNode d = discovery();
        Map<String, String> p = new LinkedHashMap<>();
        p.put("grant_type", "authorization_code");
        p.put("code", code);
        p.put("redirect_uri", redirectUri);
        p.put("code_verifier", verifier);
        JsonNode tokens = post(authenticated(d.path("token_endpoint").asText(), p).build(), "the code exchange");
        String jwksUri = d.path("jwks_uri").asText();
        IdTokenValidator.Expected expected = new IdTokenValidator.Expected(cfg.issuer, cfg.clientId, nonce,
                subject, startedAt, enrol ? null : Set.of(cfg.acr), !enrol);
        String idToken = tokens.path("id_token").asText(null);
        try {
            return IdTokenValidator.validate(idToken, getCached(jwksUri), expected, System.currentTimeMillis() / 1000);
        } catch (IdTokenValidator.InvalidToken first) {
            if (!first.unknownKey) {
                throw new Refused("the ID token is not valid: " + first.getMessage());
            }
            // The key set rotated since it was cached: fetch it once more.
            cache.forget(jwksUri);
            try {
                return IdTokenValidator.validate(idToken, getCached(jwksUri), expected, System.currentTimeMillis() / 1000);
            } catch (IdTokenValidator.InvalidToken e) {
                throw new Refused("the ID token is not valid: " + e.getMessage());
            }
        }
    }
}
