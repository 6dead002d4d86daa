package dev.paymesh.support;

import java.math.BigDecimal;
import java.util.random.RandomGenerator;
import java.util.random.RandomGeneratorFactory;

import org.junit.jupiter.api.Test;

import static org.hamcrest.MatcherAssert.assertThat;
import static org.hamcrest.Matchers.is;

/** JSON written as text is byte for byte what JSON-P (Parsson) writes for the same values. */
class JsonTextTest {

    private static String parsson(String name, String value) {
        return Json.object().add(name, value).build().toString();
    }

    @Test
    void stringsAreEscapedAsParssonEscapesThem() {
        String[] samples = {"", "I1", "a\"b", "back\\slash", "\b\t\n\f\r", "\u0000\u0001\u001f\u007f", "/slash",
            "é ü ß € 日本", "\ud83d\ude00 emoji", "\u2028\u2029", "\ud800 lone surrogate", "end\"", "\\"};
        for (String sample : samples) {
            assertThat(sample, JsonText.object("error", sample), is(parsson("error", sample)));
        }
        RandomGenerator random = RandomGeneratorFactory.getDefault().create(7);
        for (int i = 0; i < 20_000; i++) {
            char[] chars = new char[random.nextInt(0, 12)];
            for (int k = 0; k < chars.length; k++) {
                // Mostly the characters that need care: controls, quotes, backslashes, then any.
                chars[k] = random.nextBoolean() ? (char) random.nextInt(0, 0x80) : (char) random.nextInt(0, 0x10000);
            }
            String sample = new String(chars);
            assertThat(JsonText.object("id", sample), is(parsson("id", sample)));
        }
    }

    @Test
    void numbersAreWrittenAsParssonWritesABigDecimal() {
        for (String text : new String[] {"12.15", "1000.00", "0.01", "1E+3", "123456789012345.6789", "5", "0.000000001"}) {
            BigDecimal value = new BigDecimal(text);
            String expected = Json.object().add("v", value).build().toString();
            StringBuilder out = new StringBuilder("{");
            JsonText.number(JsonText.name(out, "v"), value).append('}');
            assertThat(out.toString(), is(expected));
        }
    }
}
