package dev.inherence.keycloak;

import java.util.Map;

/**
 * The adapter's settings, read from the authenticator configuration an admin fills in (every
 * value is a string in Keycloak). Validation happens here so a misconfiguration fails with a
 * clear message instead of half-working.
 */
public final class InherenceSettings {
    public static final String ISSUER = "inherence.issuer";
    public static final String CLIENT_ID = "inherence.client_id";
    public static final String CLIENT_AUTH = "inherence.client_auth";
    public static final String CLIENT_SECRET = "inherence.client_secret";
    public static final String PRIVATE_KEY = "inherence.private_key";
    public static final String KEY_ID = "inherence.key_id";
    public static final String ACR = "inherence.acr";
    public static final String MAX_AGE = "inherence.max_age";
    public static final String SUBJECT = "inherence.subject";
    public static final String FAIL_OPEN = "inherence.fail_open";
    public static final String TIMEOUT = "inherence.timeout_ms";
    public static final String SELF_ENROLMENT = "inherence.self_enrolment";

    /** How the adapter authenticates to Inherence's token and PAR endpoints. */
    public enum ClientAuth { PRIVATE_KEY_JWT, CLIENT_SECRET_BASIC }

    public final String issuer;
    public final String clientId;
    public final ClientAuth clientAuth;
    public final String clientSecret;
    public final String privateKeyPem;
    public final String keyId;
    public final String acr;
    public final Integer maxAge;
    /** {@code id}, {@code username} or {@code attribute:NAME}. */
    public final String subjectMapping;
    public final boolean failOpen;
    public final int timeoutMs;
    /** Users without a face enrol themselves at their first level-2 sign-in (trusts level 1). */
    public final boolean selfEnrolment;

    private InherenceSettings(Map<String, String> c) {
        this.issuer = trimSlash(require(c, ISSUER));
        java.net.URI u;
        try {
            u = java.net.URI.create(issuer);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException(ISSUER + " is not a URL");
        }
        String host = u.getHost() == null ? "" : u.getHost();
        boolean loopback = host.equals("127.0.0.1") || host.equals("localhost") || host.equals("[::1]");
        if (!"https".equals(u.getScheme()) && !("http".equals(u.getScheme()) && loopback)) {
            throw new IllegalArgumentException(ISSUER + " must be https (http only on loopback)");
        }
        if (u.getRawQuery() != null || u.getRawFragment() != null || u.getUserInfo() != null) {
            throw new IllegalArgumentException(ISSUER + " must have no query, fragment or user info");
        }
        this.clientId = require(c, CLIENT_ID);
        String auth = c.getOrDefault(CLIENT_AUTH, "private_key_jwt").trim();
        switch (auth) {
            case "private_key_jwt" -> this.clientAuth = ClientAuth.PRIVATE_KEY_JWT;
            case "client_secret_basic" -> this.clientAuth = ClientAuth.CLIENT_SECRET_BASIC;
            default -> throw new IllegalArgumentException(CLIENT_AUTH + " must be private_key_jwt or client_secret_basic");
        }
        this.clientSecret = blankToNull(c.get(CLIENT_SECRET));
        this.privateKeyPem = blankToNull(c.get(PRIVATE_KEY));
        this.keyId = blankToNull(c.get(KEY_ID));
        if (clientAuth == ClientAuth.CLIENT_SECRET_BASIC && clientSecret == null) {
            throw new IllegalArgumentException(CLIENT_SECRET + " is required for client_secret_basic");
        }
        if (clientAuth == ClientAuth.PRIVATE_KEY_JWT && privateKeyPem == null) {
            throw new IllegalArgumentException(PRIVATE_KEY + " (PKCS#8 PEM, EC P-256) is required for private_key_jwt");
        }
        this.acr = c.getOrDefault(ACR, "biometric").trim();
        String maxAgeText = blankToNull(c.get(MAX_AGE));
        try {
            this.maxAge = maxAgeText == null ? null : Integer.valueOf(maxAgeText);
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException(MAX_AGE + " must be a number of seconds");
        }
        this.subjectMapping = c.getOrDefault(SUBJECT, "id").trim();
        if (!subjectMapping.equals("id") && !subjectMapping.equals("username") && !subjectMapping.startsWith("attribute:")) {
            throw new IllegalArgumentException(SUBJECT + " must be id, username or attribute:NAME");
        }
        this.failOpen = Boolean.parseBoolean(c.getOrDefault(FAIL_OPEN, "false").trim());
        this.selfEnrolment = Boolean.parseBoolean(c.getOrDefault(SELF_ENROLMENT, "false").trim());
        try {
            this.timeoutMs = Integer.parseInt(c.getOrDefault(TIMEOUT, "5000").trim());
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException(TIMEOUT + " must be milliseconds");
        }
    }

    /** Parses and checks a configuration map. */
    public static InherenceSettings from(Map<String, String> config) {
        if (config == null) {
            throw new IllegalArgumentException("the Inherence authenticator is not configured");
        }
        return new InherenceSettings(config);
    }

    private static String require(Map<String, String> c, String key) {
        String v = blankToNull(c.get(key));
        if (v == null) {
            throw new IllegalArgumentException(key + " is required");
        }
        return v.trim();
    }

    private static String blankToNull(String s) {
        return s == null || s.isBlank() ? null : s;
    }

    private static String trimSlash(String s) {
        return s.endsWith("/") ? s.substring(0, s.length() - 1) : s;
    }
}
