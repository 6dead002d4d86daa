package dev.paymesh.support;

import java.math.BigDecimal;

/**
 * Writes JSON text straight into a builder, for the answers served on every request: the same bytes
 * the JSON-P object model (Parsson) writes for them, without building objects first. Strings are
 * escaped as Parsson escapes them: a quote and a backslash with a backslash, the control characters
 * as backslash-b, -t, -n, -f, -r or a backslash-u escape with four lower-case hex digits, every
 * other character as it is.
 */
public final class JsonText {

    private static final char[] HEX = "0123456789abcdef".toCharArray();

    private JsonText() {
    }

    /** Appends the string as a JSON string, quotes included. */
    public static StringBuilder string(StringBuilder out, CharSequence value) {
        out.append('"');
        int length = value.length();
        int plain = 0;
        for (int i = 0; i < length; i++) {
            char c = value.charAt(i);
            if (c >= 0x20 && c != '"' && c != '\\') {
                continue;
            }
            out.append(value, plain, i);
            plain = i + 1;
            switch (c) {
                case '"', '\\' -> out.append('\\').append(c);
                case '\b' -> out.append("\\b");
                case '\t' -> out.append("\\t");
                case '\n' -> out.append("\\n");
                case '\f' -> out.append("\\f");
                case '\r' -> out.append("\\r");
                default -> out.append("\\u00").append(HEX[c >> 4]).append(HEX[c & 0xf]);
            }
        }
        return out.append(value, plain, length).append('"');
    }

    /** Appends {@code "name":} for a member of an object. */
    public static StringBuilder name(StringBuilder out, String name) {
        return string(out, name).append(':');
    }

    /** Appends the number as JSON-P writes a BigDecimal: its {@link BigDecimal#toString()}. */
    public static StringBuilder number(StringBuilder out, BigDecimal value) {
        return out.append(value);
    }

    /** {@code {"<name>":"<value>"}}: an object of one string member, such as an error. */
    public static String object(String name, String value) {
        StringBuilder out = new StringBuilder(value.length() + name.length() + 8).append('{');
        return string(name(out, name), value).append('}').toString();
    }
}
