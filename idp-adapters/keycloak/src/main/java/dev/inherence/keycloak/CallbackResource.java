package dev.inherence.keycloak;

import jakarta.ws.rs.GET;
import jakarta.ws.rs.Path;
import jakarta.ws.rs.QueryParam;
import jakarta.ws.rs.core.Response;
import org.keycloak.models.KeycloakSession;

import java.net.URI;
import java.net.URLEncoder;
import java.nio.charset.StandardCharsets;
import java.util.Base64;

/**
 * The fixed redirect URI registered at Inherence. It only forwards the browser, with the
 * response parameters renamed, to where the sign-in resumes in Keycloak (carried in the state's
 * suffix and checked to be this realm's login-actions); every check happens there, against the
 * authentication session.
 */
public final class CallbackResource {
    private final KeycloakSession session;

    CallbackResource(KeycloakSession session) {
        this.session = session;
    }

    /** Where to resume, if the state names a login-actions URL of this realm; null otherwise. */
    static String resumeUrl(String state, String realmBase) {
        if (state == null || state.length() > 4096) {
            return null;
        }
        int dot = state.indexOf('.');
        if (dot < 0) {
            return null;
        }
        String url;
        try {
            url = new String(Base64.getUrlDecoder().decode(state.substring(dot + 1)), StandardCharsets.UTF_8);
        } catch (IllegalArgumentException e) {
            return null;
        }
        String prefix = realmBase + "/login-actions/";
        if (!url.startsWith(prefix) || url.contains("#") || url.contains("\\")) {
            return null;
        }
        try {
            URI u = URI.create(url);
            URI normal = u.normalize();
            boolean same = normal.getPath() != null
                    && normal.getPath().startsWith(URI.create(prefix).getPath())
                    && !normal.getPath().contains("..")
                    && !url.toLowerCase(java.util.Locale.ROOT).contains("%2e")
                    && normal.toString().startsWith(prefix);
            return same ? url : null;
        } catch (IllegalArgumentException e) {
            return null;
        }
    }

    @GET
    @Path("callback")
    public Response callback(@QueryParam("code") String code, @QueryParam("state") String state,
                             @QueryParam("iss") String iss, @QueryParam("error") String error,
                             @QueryParam("error_description") String errorDescription) {
        String realmBase = Flows.realmBase(session.getContext().getUri().getBaseUri(),
                session.getContext().getRealm().getName());
        String resume = resumeUrl(state, realmBase);
        if (resume == null) {
            return Response.status(Response.Status.BAD_REQUEST).type("text/plain")
                    .entity("This link does not belong to a sign-in in progress.").build();
        }
        StringBuilder b = new StringBuilder(resume).append(resume.contains("?") ? '&' : '?');
        append(b, "inh_state", state);
        append(b, "inh_code", code);
        append(b, "inh_iss", iss);
        append(b, "inh_error", error);
        append(b, "inh_error_description", errorDescription);
        b.setLength(b.length() - 1);
        return Response.seeOther(URI.create(b.toString())).header("Cache-Control", "no-store").build();
    }

    private static void append(StringBuilder b, String name, String value) {
        if (value != null) {
            b.append(name).append('=').append(URLEncoder.encode(value, StandardCharsets.UTF_8)).append('&');
        }
    }
}
