<?php
// Pushes to a running apns-lab mock the way PHP's curl-based APNs clients (pushok and
// the like) do: PHP's curl extension over HTTP/2, a provider token signed ES256 with
// openssl_sign, and Apple's own host name in the URL. The only changes a user makes:
// curl resolves api.sandbox.push.apple.com to 127.0.0.1 (CURLOPT_RESOLVE, or
// /etc/hosts) and trusts the mock's CA (CURLOPT_CAINFO, or curl.cainfo in php.ini).
//
// Usage: php php_push.php READY_JSON DEVICE_TOKEN TOPIC
// Prints one JSON object: the answers to a push, to an unknown token, and to an expired
// provider token.

$ready = json_decode($argv[1], true);
$token = $argv[2];
$topic = $argv[3];
$port = parse_url($ready['sandbox'], PHP_URL_PORT);
$host = 'api.sandbox.push.apple.com';

function b64url(string $bytes): string {
    return rtrim(strtr(base64_encode($bytes), '+/', '-_'), '=');
}

// openssl_sign gives ECDSA's DER (SEQUENCE of INTEGER r, INTEGER s); a JWS wants r and s
// as 32 bytes each.
function der_to_jose(string $der): string {
    $at = 2 + (ord($der[1]) & 0x80 ? ord($der[1]) & 0x7f : 0);
    $out = '';
    for ($i = 0; $i < 2; $i++) {
        $length = ord($der[$at + 1]);
        $int = ltrim(substr($der, $at + 2, $length), "\0");
        $out .= str_pad($int, 32, "\0", STR_PAD_LEFT);
        $at += 2 + $length;
    }
    return $out;
}

function provider_token(array $ready, int $iat): string {
    $header = b64url(json_encode(['alg' => 'ES256', 'kid' => $ready['key_id']]));
    $claims = b64url(json_encode(['iss' => $ready['team_id'], 'iat' => $iat]));
    $key = openssl_pkey_get_private(file_get_contents($ready['key_file']));
    openssl_sign("$header.$claims", $der, $key, OPENSSL_ALGO_SHA256) or exit("openssl_sign failed\n");
    return "$header.$claims." . b64url(der_to_jose($der));
}

function push(string $url, string $jwt, string $topic, array $ready, string $host, int $port): array {
    $curl = curl_init($url);
    curl_setopt_array($curl, [
        CURLOPT_HTTP_VERSION => CURL_HTTP_VERSION_2_0,
        CURLOPT_RESOLVE => ["$host:$port:127.0.0.1"],
        CURLOPT_CAINFO => $ready['ca_file'],
        CURLOPT_POST => true,
        CURLOPT_POSTFIELDS => json_encode(['aps' => ['alert' => ['title' => 'PHP', 'body' => 'From curl']]]),
        CURLOPT_HTTPHEADER => [
            "authorization: bearer $jwt",
            "apns-topic: $topic",
            'apns-push-type: alert',
        ],
        CURLOPT_RETURNTRANSFER => true,
        CURLOPT_HEADER => true,
        CURLOPT_TIMEOUT => 10,
    ]);
    $response = curl_exec($curl);
    if ($response === false) {
        exit('curl: ' . curl_error($curl) . "\n");
    }
    $head = substr($response, 0, curl_getinfo($curl, CURLINFO_HEADER_SIZE));
    $body = substr($response, strlen($head));
    preg_match('/^apns-id: (.+)$/mi', $head, $id);
    return [
        'http_version' => curl_getinfo($curl, CURLINFO_HTTP_VERSION),
        'status' => curl_getinfo($curl, CURLINFO_RESPONSE_CODE),
        'apns_id' => isset($id[1]) ? trim($id[1]) : null,
        'reason' => $body === '' ? null : (json_decode($body, true)['reason'] ?? null),
    ];
}

$jwt = provider_token($ready, time());
$url = "https://$host:$port/3/device";
echo json_encode([
    'ok' => push("$url/$token", $jwt, $topic, $ready, $host, $port),
    'unknown_token' => push("$url/" . str_repeat('ab', 32), $jwt, $topic, $ready, $host, $port),
    'expired' => push("$url/$token", provider_token($ready, time() - 7200), $topic, $ready, $host, $port),
]), "\n";
