// Pushes to a running apns-lab mock with the JDK alone: java.net.http's own HTTP/2 client
// (ALPN over TLS) and an ES256 provider token from java.security (SHA256withECDSAinP1363Format
// gives the JWS r‖s form directly; plain SHA256withECDSA gives DER). The only changes a
// user makes: the host and port from the ready line, and an SSLContext that trusts the
// mock's CA. Pushy is configured the same way (setApnsServer, setTrustedServerCertificateChain).
//
// Usage: java Push.java SANDBOX_URL CA_FILE KEY_FILE KEY_ID TEAM_ID DEVICE_TOKEN TOPIC
// Prints one JSON object: a push's answer, an unknown token's, and how many of 100
// concurrent pushes were answered 200 over HTTP/2.

import java.io.FileInputStream;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.KeyFactory;
import java.security.KeyStore;
import java.security.PrivateKey;
import java.security.Signature;
import java.security.cert.CertificateFactory;
import java.security.spec.PKCS8EncodedKeySpec;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import javax.net.ssl.SSLContext;
import javax.net.ssl.TrustManagerFactory;

public class Push {
    static String b64(byte[] bytes) {
        return Base64.getUrlEncoder().withoutPadding().encodeToString(bytes);
    }

    /** The JWT APNs reads: ES256, kid and iss, iat now. */
    static String providerToken(String keyFile, String keyId, String teamId) throws Exception {
        String pem = Files.readString(Path.of(keyFile)).replaceAll("-----[A-Z ]+-----", "").replaceAll("\\s", "");
        PrivateKey key = KeyFactory.getInstance("EC").generatePrivate(new PKCS8EncodedKeySpec(Base64.getDecoder().decode(pem)));
        String header = b64(("{\"alg\":\"ES256\",\"kid\":\"" + keyId + "\"}").getBytes(StandardCharsets.UTF_8));
        String claims = b64(("{\"iss\":\"" + teamId + "\",\"iat\":" + System.currentTimeMillis() / 1000 + "}").getBytes(StandardCharsets.UTF_8));
        Signature signer = Signature.getInstance("SHA256withECDSAinP1363Format");
        signer.initSign(key);
        signer.update((header + "." + claims).getBytes(StandardCharsets.UTF_8));
        return header + "." + claims + "." + b64(signer.sign());
    }

    /** A TLS context that trusts the one CA in caFile. */
    static SSLContext trusting(String caFile) throws Exception {
        KeyStore store = KeyStore.getInstance(KeyStore.getDefaultType());
        store.load(null, null);
        try (FileInputStream in = new FileInputStream(caFile)) {
            store.setCertificateEntry("apns-lab", CertificateFactory.getInstance("X.509").generateCertificate(in));
        }
        TrustManagerFactory trust = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
        trust.init(store);
        SSLContext context = SSLContext.getInstance("TLS");
        context.init(null, trust.getTrustManagers(), null);
        return context;
    }

    static String json(HttpResponse<String> r) {
        Matcher reason = Pattern.compile("\"reason\"\\s*:\\s*\"([^\"]*)\"").matcher(r.body());
        return String.format("{\"version\":\"%s\",\"status\":%d,\"apns_id\":\"%s\",\"reason\":%s}",
            r.version(), r.statusCode(), r.headers().firstValue("apns-id").orElse(""),
            reason.find() ? "\"" + reason.group(1) + "\"" : "null");
    }

    public static void main(String[] args) throws Exception {
        String sandbox = args[0], token = args[5], topic = args[6];
        String jwt = providerToken(args[2], args[3], args[4]);
        HttpClient client = HttpClient.newBuilder()
            .version(HttpClient.Version.HTTP_2)
            .sslContext(trusting(args[1]))
            .connectTimeout(Duration.ofSeconds(5))
            .build();
        String payload = "{\"aps\":{\"alert\":{\"title\":\"Java\",\"body\":\"From java.net.http\"}}}";
        java.util.function.Function<String, HttpRequest> request = device -> HttpRequest.newBuilder()
            .uri(URI.create(sandbox + "/3/device/" + device))
            .timeout(Duration.ofSeconds(10))
            .header("authorization", "bearer " + jwt)
            .header("apns-topic", topic)
            .header("apns-push-type", "alert")
            .POST(HttpRequest.BodyPublishers.ofString(payload))
            .build();

        HttpResponse<String> first = client.send(request.apply(token), HttpResponse.BodyHandlers.ofString());
        HttpResponse<String> unknown = client.send(request.apply("ab".repeat(32)), HttpResponse.BodyHandlers.ofString());
        List<CompletableFuture<HttpResponse<String>>> all = new ArrayList<>();
        for (int i = 0; i < 100; i++) {
            all.add(client.sendAsync(request.apply(token), HttpResponse.BodyHandlers.ofString()));
        }
        long ok = 0;
        for (CompletableFuture<HttpResponse<String>> f : all) {
            HttpResponse<String> r = f.get();
            if (r.statusCode() == 200 && r.version() == HttpClient.Version.HTTP_2) {
                ok++;
            }
        }
        System.out.printf("{\"ok\":%s,\"unknown_token\":%s,\"concurrent_ok\":%d}%n", json(first), json(unknown), ok);
    }
}
