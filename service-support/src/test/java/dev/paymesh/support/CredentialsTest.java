package dev.paymesh.support;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import static org.hamcrest.MatcherAssert.assertThat;
import static org.hamcrest.Matchers.is;

/** Every form of credentials a URL given to the services may carry, and the URLs that carry none. */
class CredentialsTest {

    @ParameterizedTest
    @CsvSource(delimiter = '|', value = {
            // payment.provider.url
            "http://payer:hunter2@payment-provider:8082|http://payer:***@payment-provider:8082",
            "https://payer:hunter2@payment-provider:8082/base?x=1|https://payer:***@payment-provider:8082/base?x=1",
            "http://a-token-alone@payment-provider:8082|http://***@payment-provider:8082",
            "http://payer:p@ss:w@rd@payment-provider:8082/|http://payer:***@payment-provider:8082/",
            "http://payer:@payment-provider|http://payer:***@payment-provider",
            // the database URL, every way a password can be written into it
            "jdbc:postgresql://app:hunter2@db:5432/invoices|jdbc:postgresql://app:***@db:5432/invoices",
            "jdbc:postgresql://db:5432/invoices?password=hunter2|jdbc:postgresql://db:5432/invoices?password=***",
            "jdbc:postgresql://db/invoices?user=app&password=hunter2|jdbc:postgresql://db/invoices?user=app&password=***",
            "jdbc:postgresql://db/invoices?password=hunter2&ssl=true|jdbc:postgresql://db/invoices?password=***&ssl=true",
            "jdbc:postgresql://db/invoices?PASSWORD=hunter2|jdbc:postgresql://db/invoices?PASSWORD=***",
            "jdbc:postgresql://db/invoices?sslmode=verify-full&sslpassword=hunter2|jdbc:postgresql://db/invoices?sslmode=verify-full&sslpassword=***",
            "jdbc:postgresql://db1:5432,db2:5432/invoices?user=app&password=hunter2&targetServerType=primary"
                    + "|jdbc:postgresql://db1:5432,db2:5432/invoices?user=app&password=***&targetServerType=primary",
            "jdbc:postgresql://app:one@db/invoices?password=two|jdbc:postgresql://app:***@db/invoices?password=***",
            "jdbc:sqlserver://db:1433;user=app;password=hunter2;encrypt=true|jdbc:sqlserver://db:1433;user=app;password=***;encrypt=true",
            "http://provider/pay?access_token=hunter2|http://provider/pay?access_token=***",
            // nothing to mask
            "http://payment-provider:8082|http://payment-provider:8082",
            "jdbc:postgresql://db:5432/invoices?user=app|jdbc:postgresql://db:5432/invoices?user=app",
            "http://provider/a@b|http://provider/a@b"})
    void masksEveryPasswordAndNothingElse(String url, String shown) {
        assertThat(Credentials.masked(url), is(shown));
    }

    @Test
    void userInformationIsTakenOutOfAUrl() {
        assertThat(Credentials.userInfo("jdbc:postgresql://app:p@ss@db:5432/invoices?ssl=true").orElseThrow(),
                is(new Credentials.UserInfo("jdbc:postgresql://db:5432/invoices?ssl=true", "app", "p@ss")));
        assertThat(Credentials.userInfo("jdbc:postgresql://app@db/invoices").orElseThrow(),
                is(new Credentials.UserInfo("jdbc:postgresql://db/invoices", "app", null)));
        assertThat(Credentials.userInfo("jdbc:postgresql://db/invoices?user=app").isPresent(), is(false));
    }
}
