package dev.paymesh.support;

import java.util.Optional;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Masks the credentials a URL may carry before it is logged or shown: both services print their
 * database URL and invoice-app the URL of payment-provider, and an operator may write a password
 * into either.
 */
public final class Credentials {

    private static final String MASK = "***";

    /**
     * What sits between {@code scheme://} and the host: everything up to the last {@code @} before
     * the path, so a password with a stray {@code @} in it is masked whole.
     */
    private static final Pattern USER_INFO = Pattern.compile("^([A-Za-z][A-Za-z0-9+.:-]*://)([^/?#]*)@");

    /** Parameters whose value is a secret: {@code password=}, {@code sslpassword=}, {@code token=} ... */
    private static final Pattern SECRET_PARAMETER = Pattern.compile(
            "(?i)([?&;][^=&;#/]*(?:password|passwd|pwd|secret|token)[^=&;#/]*=)[^&;#]*");

    private Credentials() {
    }

    /** A URL's {@code user:password@} taken out of it: the URL without them, and each part (null when absent). */
    public record UserInfo(String url, String user, String password) {
    }

    /**
     * Splits {@code scheme://user:password@host...} into the URL without its user information and
     * the two parts, or returns empty when the URL has none. The PostgreSQL driver reads such a
     * {@code user:password} as part of the host name and would print it in its errors.
     */
    public static Optional<UserInfo> userInfo(String url) {
        Matcher userInfo = USER_INFO.matcher(url);
        if (!userInfo.find()) {
            return Optional.empty();
        }
        String info = userInfo.group(2);
        int colon = info.indexOf(':');
        String withoutInfo = userInfo.group(1) + url.substring(userInfo.end());
        return Optional.of(colon < 0
                ? new UserInfo(withoutInfo, info, null)
                : new UserInfo(withoutInfo, info.substring(0, colon), info.substring(colon + 1)));
    }

    /**
     * The URL with every password in it replaced by {@code ***}: the one after {@code user:} before
     * the host, and the value of every secret parameter. A user name stays (it says which account
     * was used); what stands alone before the {@code @} may be a token, so it is masked too.
     */
    public static String masked(String url) {
        if (url == null) {
            return null;
        }
        String result = url;
        Matcher userInfo = USER_INFO.matcher(result);
        if (userInfo.find()) {
            String info = userInfo.group(2);
            int colon = info.indexOf(':');
            String shown = colon < 0 ? MASK : info.substring(0, colon + 1) + MASK;
            result = userInfo.group(1) + shown + "@" + result.substring(userInfo.end());
        }
        return SECRET_PARAMETER.matcher(result).replaceAll("$1" + MASK);
    }
}
