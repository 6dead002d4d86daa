package dev.paymesh.payment;

import java.math.BigDecimal;
import java.util.ArrayList;
import java.util.Currency;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.function.Function;
import java.util.stream.Collectors;

import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import static org.hamcrest.MatcherAssert.assertThat;
import static org.hamcrest.Matchers.is;

/**
 * What every {@link PaymentStore} must do, run against each implementation by a subclass: record
 * once per id, tell a replay from a conflict, and keep that under concurrent callers.
 */
abstract class PaymentStoreContract {

    private static final Currency EUR = Currency.getInstance("EUR");
    private static final Currency GBP = Currency.getInstance("GBP");
    private static final int CALLERS = 16;
    private static final int ROUNDS = 10;

    private PaymentStore store;

    /** A store with nothing recorded in it. */
    abstract PaymentStore emptyStore();

    @BeforeEach
    void setUpStore() {
        store = emptyStore();
    }

    private static Payment payment(String id, String value, Currency currency) {
        return new Payment(id, new BigDecimal(value), currency);
    }

    @Test
    void newPaymentIsRecordedAndFoundWithItsScale() {
        assertThat(store.record(payment("A1", "12.10", EUR)), is(PaymentStore.Outcome.RECORDED));
        Payment found = store.find("A1").orElseThrow();
        assertThat(found.id(), is("A1"));
        assertThat(found.value().toPlainString(), is("12.10"));
        assertThat(found.currency(), is(EUR));
    }

    @Test
    void everyAmountIsAnsweredInItsCurrencysMinorUnitsWhateverScaleItCameWith() {
        // One expected answer for every store: the in-memory one and PostgreSQL give the same bytes.
        Map<String, String> answers = Map.of(
                "{\"id\":\"A2\",\"value\":5,\"currency\":\"GBP\"}", "{\"id\":\"A2\",\"value\":5.00,\"currency\":\"GBP\"}",
                "{\"id\":\"A3\",\"value\":1E+3,\"currency\":\"EUR\"}", "{\"id\":\"A3\",\"value\":1000.00,\"currency\":\"EUR\"}",
                "{\"id\":\"A4\",\"value\":12.1500000,\"currency\":\"EUR\"}", "{\"id\":\"A4\",\"value\":12.15,\"currency\":\"EUR\"}",
                "{\"id\":\"A5\",\"value\":1500.00,\"currency\":\"JPY\"}", "{\"id\":\"A5\",\"value\":1500,\"currency\":\"JPY\"}",
                "{\"id\":\"A6\",\"value\":1.125,\"currency\":\"KWD\"}", "{\"id\":\"A6\",\"value\":1.125,\"currency\":\"KWD\"}",
                "{\"id\":\"A7\",\"value\":999999999999999.99,\"currency\":\"EUR\"}",
                "{\"id\":\"A7\",\"value\":999999999999999.99,\"currency\":\"EUR\"}");
        answers.forEach((request, answer) -> {
            Payment payment = PaymentRequestParser.parse(request);
            assertThat(request, store.record(payment), is(PaymentStore.Outcome.RECORDED));
            assertThat(PaymentService.toJson(store.find(payment.id()).orElseThrow()).toString(), is(answer));
        });
    }

    @Test
    void samePaymentAgainIsAlreadyRecordedEvenWithAnotherScale() {
        store.record(payment("B1", "5.10", EUR));
        assertThat(store.record(payment("B1", "5.10", EUR)), is(PaymentStore.Outcome.ALREADY_RECORDED));
        assertThat(store.record(payment("B1", "5.1", EUR)), is(PaymentStore.Outcome.ALREADY_RECORDED));
        assertThat(store.find("B1").orElseThrow().value().toPlainString(), is("5.10"));
    }

    @Test
    void anotherAmountOrCurrencyUnderTheSameIdIsAConflictAndChangesNothing() {
        store.record(payment("C1", "5.00", EUR));
        assertThat(store.record(payment("C1", "5.01", EUR)), is(PaymentStore.Outcome.CONFLICT));
        assertThat(store.record(payment("C1", "5.00", GBP)), is(PaymentStore.Outcome.CONFLICT));
        Payment kept = store.find("C1").orElseThrow();
        assertThat(kept.value().toPlainString(), is("5.00"));
        assertThat(kept.currency(), is(EUR));
    }

    @Test
    void unknownIdIsNotFound() {
        store.record(payment("D1", "1", EUR));
        assertThat(store.find("D2").isPresent(), is(false));
        assertThat(store.find("d1").isPresent(), is(false));
    }

    @Test
    void idsAreComparedExactly() {
        assertThat(store.record(payment("E1", "1", EUR)), is(PaymentStore.Outcome.RECORDED));
        assertThat(store.record(payment("e1", "2", EUR)), is(PaymentStore.Outcome.RECORDED));
        assertThat(store.record(payment("E1 ", "3", EUR)), is(PaymentStore.Outcome.RECORDED));
        assertThat(store.find("e1").orElseThrow().value().toPlainString(), is("2.00"));
    }

    @Test
    void longestAllowedIdAndUnicodeAreKept() {
        String longest = "Ω".repeat(PaymentRequestParser.MAX_ID_LENGTH);
        assertThat(store.record(payment(longest, "1", EUR)), is(PaymentStore.Outcome.RECORDED));
        assertThat(store.record(payment(longest, "1", EUR)), is(PaymentStore.Outcome.ALREADY_RECORDED));
        assertThat(store.find(longest).orElseThrow().id(), is(longest));
    }

    @Test
    void aBatchLargerThanOneStatementGetsEachOutcomeInItsOrder() {
        assertThat(store.record(payment("P0", "4", EUR)), is(PaymentStore.Outcome.RECORDED));
        List<Payment> batch = new ArrayList<>();
        for (int i = 1; i <= 300; i++) {
            batch.add(payment("P" + i, i + ".25", EUR));
        }
        batch.add(payment("P0", "4.00", EUR));
        batch.add(payment("P0", "5", EUR));
        batch.add(payment("P7", "7.25", GBP));
        List<PaymentStore.Recorded> recorded = store.recordAll(batch);
        assertThat(recorded.size(), is(303));
        for (int i = 0; i < 300; i++) {
            assertThat("P" + (i + 1), recorded.get(i), is(new PaymentStore.Recorded(PaymentStore.Outcome.RECORDED, null)));
        }
        assertThat(recorded.get(300).outcome(), is(PaymentStore.Outcome.ALREADY_RECORDED));
        assertThat(recorded.get(301).outcome(), is(PaymentStore.Outcome.CONFLICT));
        assertThat(recorded.get(302).outcome(), is(PaymentStore.Outcome.CONFLICT));
        assertThat(store.find("P300").orElseThrow().value().toPlainString(), is("300.25"));
        assertThat(store.find("P7").orElseThrow().currency(), is(EUR));
    }

    @Test
    void concurrentIdenticalPaymentsOfOneIdAreRecordedExactlyOnce() throws Exception {
        for (int round = 0; round < ROUNDS; round++) {
            String id = "R" + round;
            List<PaymentStore.Outcome> outcomes = raceOn(i -> payment(id, "7.25", EUR));
            Map<PaymentStore.Outcome, Long> counts = count(outcomes);
            assertThat(id + " " + counts, counts.get(PaymentStore.Outcome.RECORDED), is(1L));
            assertThat(id + " " + counts, counts.get(PaymentStore.Outcome.ALREADY_RECORDED), is((long) CALLERS - 1));
        }
    }

    @Test
    void concurrentDifferingPaymentsOfOneIdKeepTheWinnerAndRefuseTheRest() throws Exception {
        for (int round = 0; round < ROUNDS; round++) {
            String id = "S" + round;
            // Even callers pay 1.00, odd ones 2.00: whichever lands first decides who conflicts.
            List<PaymentStore.Outcome> outcomes = raceOn(i -> payment(id, i % 2 == 0 ? "1.00" : "2.00", EUR));
            String winner = store.find(id).orElseThrow().value().toPlainString();
            assertThat(count(outcomes).get(PaymentStore.Outcome.RECORDED), is(1L));
            for (int i = 0; i < CALLERS; i++) {
                String paid = i % 2 == 0 ? "1.00" : "2.00";
                if (outcomes.get(i) != PaymentStore.Outcome.RECORDED) {
                    PaymentStore.Outcome expected = paid.equals(winner)
                            ? PaymentStore.Outcome.ALREADY_RECORDED : PaymentStore.Outcome.CONFLICT;
                    assertThat(id + " caller " + i + " paying " + paid, outcomes.get(i), is(expected));
                } else {
                    assertThat(id + " recorded by the caller whose amount was kept", paid, is(winner));
                }
            }
        }
    }

    /** Records from {@link #CALLERS} platform threads released at the same instant; outcomes by caller. */
    private List<PaymentStore.Outcome> raceOn(Function<Integer, Payment> paymentOfCaller) throws Exception {
        CountDownLatch start = new CountDownLatch(1);
        List<Callable<PaymentStore.Outcome>> calls = new ArrayList<>();
        for (int i = 0; i < CALLERS; i++) {
            Payment payment = paymentOfCaller.apply(i);
            calls.add(() -> {
                start.await();
                return store.record(payment);
            });
        }
        ExecutorService executor = Executors.newFixedThreadPool(CALLERS);
        try {
            List<Future<PaymentStore.Outcome>> futures = new ArrayList<>();
            for (Callable<PaymentStore.Outcome> call : calls) {
                futures.add(executor.submit(call));
            }
            start.countDown();
            List<PaymentStore.Outcome> outcomes = new ArrayList<>();
            for (Future<PaymentStore.Outcome> future : futures) {
                outcomes.add(future.get(30, TimeUnit.SECONDS));
            }
            return outcomes;
        } finally {
            executor.shutdownNow();
        }
    }

    private static Map<PaymentStore.Outcome, Long> count(List<PaymentStore.Outcome> outcomes) {
        return outcomes.stream().collect(Collectors.groupingBy(Function.identity(), Collectors.counting()));
    }
}
