package dev.paymesh.system;

/**
 * Every pay flow of {@link PayFlowSystemTest} with each invoice paid by its own
 * {@code POST /payments/pay}: how invoice-app pays with {@code payment.provider.batch-size} 1, and
 * a payment-provider without the batch endpoint.
 */
class PayFlowOneByOneSystemTest extends PayFlowSystemTest {

    @Override
    int batchSize() {
        return 1;
    }
}
