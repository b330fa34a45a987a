#include "datasets/synth/apps.h"

namespace trafficfm::datasets::synth {
namespace {

constexpr std::uint8_t kHandshake = 22;
constexpr std::uint8_t kChangeCipherSpec = 20;
constexpr std::uint8_t kApplicationData = 23;
constexpr std::size_t kMaxRecord = 16384;

void append_record(std::vector<std::uint8_t>& out, std::uint8_t type, std::uint16_t version,
                   const std::vector<std::uint8_t>& body) {
  put_u8(out, type);
  put_u16(out, version);
  put_u16(out, static_cast<std::uint32_t>(body.size()));
  put_bytes(out, body.data(), body.size());
}

// Encrypted records as TLS 1.3 sends them: opaque type 23, 16-byte AEAD tag included.
void append_encrypted(std::vector<std::uint8_t>& out, core::Rng& rng, std::size_t plaintext) {
  while (plaintext > 0) {
    const std::size_t n = std::min(plaintext, kMaxRecord);
    append_record(out, kApplicationData, 0x0303, random_bytes(rng, n + 17));  // + type byte + tag
    plaintext -= n;
  }
}

void extension(std::vector<std::uint8_t>& out, std::uint16_t type, const std::vector<std::uint8_t>& data) {
  put_u16(out, type);
  put_u16(out, static_cast<std::uint32_t>(data.size()));
  put_bytes(out, data.data(), data.size());
}

std::vector<std::uint8_t> client_hello(core::Rng& rng, const std::string& server_name,
                                       const std::vector<std::uint8_t>& session_id) {
  std::vector<std::uint8_t> body;
  put_u16(body, 0x0303);  // legacy_version TLS 1.2
  const auto random = random_bytes(rng, 32);
  put_bytes(body, random.data(), 32);
  put_u8(body, static_cast<std::uint32_t>(session_id.size()));
  put_bytes(body, session_id.data(), session_id.size());
  const std::uint16_t suites[] = {0x1301, 0x1302, 0x1303, 0xc02b, 0xc02f, 0xc02c, 0xc030, 0xcca9, 0xcca8};
  put_u16(body, sizeof suites);
  for (auto s : suites) put_u16(body, s);
  put_u8(body, 1);  // compression methods: null only
  put_u8(body, 0);

  std::vector<std::uint8_t> ext;
  {  // server_name (0): list of one host_name
    std::vector<std::uint8_t> d;
    put_u16(d, static_cast<std::uint32_t>(server_name.size() + 3));
    put_u8(d, 0);
    put_u16(d, static_cast<std::uint32_t>(server_name.size()));
    put_bytes(d, server_name.data(), server_name.size());
    extension(ext, 0, d);
  }
  extension(ext, 23, {});                                          // extended_master_secret
  extension(ext, 65281, {0});                                      // renegotiation_info
  extension(ext, 10, {0, 6, 0x00, 0x1d, 0x00, 0x17, 0x00, 0x18});  // groups x25519, p256, p384
  extension(ext, 11, {1, 0});                                      // ec_point_formats
  {                                                                // ALPN (16): h2, http/1.1
    std::vector<std::uint8_t> d = {0, 12, 2, 'h', '2', 8, 'h', 't', 't', 'p', '/', '1', '.', '1'};
    extension(ext, 16, d);
  }
  extension(ext, 13, {0, 8, 0x04, 0x03, 0x08, 0x04, 0x04, 0x01, 0x08, 0x07});  // signature_algorithms
  {  // key_share (51): x25519 public key
    std::vector<std::uint8_t> d;
    put_u16(d, 36);
    put_u16(d, 0x001d);
    put_u16(d, 32);
    const auto key = random_bytes(rng, 32);
    put_bytes(d, key.data(), 32);
    extension(ext, 51, d);
  }
  extension(ext, 45, {1, 1});                       // psk_key_exchange_modes: psk_dhe_ke
  extension(ext, 43, {4, 0x03, 0x04, 0x03, 0x03});  // supported_versions: 1.3, 1.2
  // Browsers pad the ClientHello to 512 bytes (RFC 7685): 4 header + 508 body.
  const std::size_t so_far = body.size() + 2 + ext.size();
  if (so_far + 4 < 508) extension(ext, 21, std::vector<std::uint8_t>(508 - so_far - 4, 0));
  put_u16(body, static_cast<std::uint32_t>(ext.size()));
  put_bytes(body, ext.data(), ext.size());

  std::vector<std::uint8_t> handshake;
  put_u8(handshake, 1);  // client_hello
  put_u24(handshake, static_cast<std::uint32_t>(body.size()));
  put_bytes(handshake, body.data(), body.size());
  return handshake;
}

std::vector<std::uint8_t> server_hello(core::Rng& rng, const std::vector<std::uint8_t>& session_id) {
  std::vector<std::uint8_t> body;
  put_u16(body, 0x0303);
  const auto random = random_bytes(rng, 32);
  put_bytes(body, random.data(), 32);
  put_u8(body, static_cast<std::uint32_t>(session_id.size()));
  put_bytes(body, session_id.data(), session_id.size());
  put_u16(body, 0x1301);  // TLS_AES_128_GCM_SHA256
  put_u8(body, 0);
  std::vector<std::uint8_t> ext;
  extension(ext, 43, {0x03, 0x04});  // supported_versions: TLS 1.3
  std::vector<std::uint8_t> share;
  put_u16(share, 0x001d);
  put_u16(share, 32);
  const auto key = random_bytes(rng, 32);
  put_bytes(share, key.data(), 32);
  extension(ext, 51, share);
  put_u16(body, static_cast<std::uint32_t>(ext.size()));
  put_bytes(body, ext.data(), ext.size());
  std::vector<std::uint8_t> handshake;
  put_u8(handshake, 2);  // server_hello
  put_u24(handshake, static_cast<std::uint32_t>(body.size()));
  put_bytes(handshake, body.data(), body.size());
  return handshake;
}

}  // namespace

void tls_flow(TcpConversation& tcp, core::Rng& rng, const std::string& server_name) {
  tcp.handshake();
  const auto session_id = random_bytes(rng, 32);

  std::vector<std::uint8_t> hello;
  append_record(hello, kHandshake, 0x0301, client_hello(rng, server_name, session_id));
  tcp.send(true, hello);

  // ServerHello, then (encrypted) EncryptedExtensions, Certificate, CertificateVerify, Finished.
  std::vector<std::uint8_t> flight;
  append_record(flight, kHandshake, 0x0303, server_hello(rng, session_id));
  append_record(flight, kChangeCipherSpec, 0x0303, {1});
  append_encrypted(flight, rng, random_size(rng, 2800, 0.35, 900, 9000));
  tcp.send(false, flight, rng.lognormal(0.002, 0.7));

  std::vector<std::uint8_t> finished;
  append_record(finished, kChangeCipherSpec, 0x0303, {1});
  append_encrypted(finished, rng, 36);  // client Finished
  tcp.send(true, finished);

  const int exchanges = static_cast<int>(rng.integer(1, 4));
  for (int i = 0; i < exchanges; ++i) {
    std::vector<std::uint8_t> request;
    append_encrypted(request, rng, random_size(rng, 450, 0.6, 40, 6000));
    tcp.send(true, request, i == 0 ? 0.0 : rng.lognormal(0.3, 1.2));
    std::vector<std::uint8_t> response;
    append_encrypted(response, rng, random_size(rng, 9000, 1.3, 60, 600000));
    tcp.send(false, response, rng.lognormal(0.008, 0.9));
  }
  std::vector<std::uint8_t> alert;  // close_notify, encrypted
  append_encrypted(alert, rng, 2);
  const bool client_closes = rng.bernoulli(0.7);
  tcp.send(client_closes, alert, rng.lognormal(0.5, 1.0));
  tcp.close(client_closes);
}

}  // namespace trafficfm::datasets::synth
