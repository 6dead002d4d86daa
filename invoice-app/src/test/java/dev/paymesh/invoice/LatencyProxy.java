package dev.paymesh.invoice;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.time.Duration;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.LinkedBlockingQueue;

/**
 * A TCP hop on 127.0.0.1 that delivers every byte a fixed time after it was sent, in both
 * directions: a database across a slow network. Bytes keep their order, and a hop that is busy
 * still takes the next bytes at once, so the delay adds latency without limiting throughput.
 */
final class LatencyProxy implements AutoCloseable {

    /** Bytes due at an instant; an empty chunk marks the end of the stream. */
    private record Chunk(long dueNanos, byte[] bytes) {
    }

    private final ServerSocket listener;
    private final int targetPort;
    private final long delayNanos;
    private final List<Socket> sockets = new CopyOnWriteArrayList<>();

    LatencyProxy(int targetPort, Duration oneWay) throws IOException {
        this.listener = new ServerSocket(0, 50, InetAddress.getLoopbackAddress());
        this.targetPort = targetPort;
        this.delayNanos = oneWay.toNanos();
        Thread.ofVirtual().name("latency-proxy-accept").start(this::accept);
    }

    int port() {
        return listener.getLocalPort();
    }

    private void accept() {
        while (!listener.isClosed()) {
            try {
                Socket client = listener.accept();
                Socket server = new Socket(InetAddress.getLoopbackAddress(), targetPort);
                client.setTcpNoDelay(true);
                server.setTcpNoDelay(true);
                sockets.add(client);
                sockets.add(server);
                pipe(client, server);
                pipe(server, client);
            } catch (IOException e) {
                return; // closed
            }
        }
    }

    /** Reads from one side as the bytes come and writes them to the other once they are due. */
    private void pipe(Socket from, Socket to) {
        BlockingQueue<Chunk> inTransit = new LinkedBlockingQueue<>();
        Thread.ofVirtual().start(() -> {
            byte[] buffer = new byte[16 * 1024];
            try (InputStream in = from.getInputStream()) {
                int read;
                while ((read = in.read(buffer)) > 0) {
                    inTransit.add(new Chunk(System.nanoTime() + delayNanos, Arrays.copyOf(buffer, read)));
                }
            } catch (IOException e) {
                // the side closed or reset: end the stream
            }
            inTransit.add(new Chunk(System.nanoTime() + delayNanos, new byte[0]));
        });
        Thread.ofVirtual().start(() -> {
            try {
                OutputStream out = to.getOutputStream();
                while (true) {
                    Chunk chunk = inTransit.take();
                    long wait = chunk.dueNanos() - System.nanoTime();
                    if (wait > 0) {
                        Thread.sleep(Duration.ofNanos(wait));
                    }
                    if (chunk.bytes().length == 0) {
                        to.shutdownOutput();
                        return;
                    }
                    out.write(chunk.bytes());
                    out.flush();
                }
            } catch (IOException | InterruptedException e) {
                // the other side is gone
            }
        });
    }

    @Override
    public void close() throws IOException {
        listener.close();
        for (Socket socket : sockets) {
            socket.close();
        }
    }
}
