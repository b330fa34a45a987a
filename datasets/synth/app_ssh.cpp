#include "datasets/synth/apps.h"

namespace trafficfm::datasets::synth {
namespace {

constexpr std::uint8_t kMsgKexInit = 20;
constexpr std::uint8_t kMsgNewKeys = 21;
constexpr std::uint8_t kMsgKexEcdhInit = 30;
constexpr std::uint8_t kMsgKexEcdhReply = 31;

void put_string(std::vector<std::uint8_t>& out, const std::string& s) {
  put_u32(out, static_cast<std::uint32_t>(s.size()));
  put_bytes(out, s.data(), s.size());
}
void put_string(std::vector<std::uint8_t>& out, const std::vector<std::uint8_t>& s) {
  put_u32(out, static_cast<std::uint32_t>(s.size()));
  put_bytes(out, s.data(), s.size());
}

// RFC 4253 §6 binary packet before keys are in use: length, padding length, payload, padding
// (at least 4 bytes, total a multiple of 8), no MAC.
void append_packet(std::vector<std::uint8_t>& out, core::Rng& rng, const std::vector<std::uint8_t>& payload) {
  std::size_t padding = 8 - (5 + payload.size()) % 8;
  if (padding < 4) padding += 8;
  put_u32(out, static_cast<std::uint32_t>(1 + payload.size() + padding));
  put_u8(out, static_cast<std::uint32_t>(padding));
  put_bytes(out, payload.data(), payload.size());
  const auto pad = random_bytes(rng, padding);
  put_bytes(out, pad.data(), pad.size());
}

// chacha20-poly1305@openssh.com: 4-byte encrypted length, body in 8-byte blocks, 16-byte tag.
std::vector<std::uint8_t> encrypted_packet(core::Rng& rng, std::size_t payload) {
  std::size_t body = 1 + payload + 4;
  body += (8 - body % 8) % 8;
  return random_bytes(rng, 4 + body + 16);
}

std::vector<std::uint8_t> kexinit(core::Rng& rng, bool client) {
  std::vector<std::uint8_t> p;
  put_u8(p, kMsgKexInit);
  const auto cookie = random_bytes(rng, 16);
  put_bytes(p, cookie.data(), 16);
  put_string(p, client ? "curve25519-sha256,curve25519-sha256@libssh.org,ecdh-sha2-nistp256,"
                         "diffie-hellman-group16-sha512,diffie-hellman-group14-sha256,ext-info-c"
                       : "curve25519-sha256,curve25519-sha256@libssh.org,ecdh-sha2-nistp256,"
                         "diffie-hellman-group16-sha512,diffie-hellman-group14-sha256");
  put_string(p, "ssh-ed25519,ecdsa-sha2-nistp256,rsa-sha2-512,rsa-sha2-256");
  const std::string ciphers =
      "chacha20-poly1305@openssh.com,aes128-ctr,aes192-ctr,aes256-ctr,"
      "aes128-gcm@openssh.com,aes256-gcm@openssh.com";
  const std::string macs =
      "umac-64-etm@openssh.com,umac-128-etm@openssh.com,"
      "hmac-sha2-256-etm@openssh.com,hmac-sha2-512-etm@openssh.com";
  put_string(p, ciphers);
  put_string(p, ciphers);
  put_string(p, macs);
  put_string(p, macs);
  put_string(p, "none,zlib@openssh.com");
  put_string(p, "none,zlib@openssh.com");
  put_string(p, "");
  put_string(p, "");
  put_u8(p, 0);   // first_kex_packet_follows
  put_u32(p, 0);  // reserved
  return p;
}

}  // namespace

void ssh_flow(TcpConversation& tcp, core::Rng& rng) {
  static const char* const kServerBanners[] = {"SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3\r\n",
                                               "SSH-2.0-OpenSSH_8.9p1 Ubuntu-3ubuntu0.6\r\n",
                                               "SSH-2.0-dropbear_2022.83\r\n"};
  static const char* const kClientBanners[] = {"SSH-2.0-OpenSSH_9.6\r\n", "SSH-2.0-PuTTY_Release_0.80\r\n",
                                               "SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3\r\n"};
  tcp.handshake();
  const std::string server_banner = kServerBanners[rng.integer(0, 2)];
  const std::string client_banner = kClientBanners[rng.integer(0, 2)];
  tcp.send(false, {server_banner.begin(), server_banner.end()});
  tcp.send(true, {client_banner.begin(), client_banner.end()});

  std::vector<std::uint8_t> client_kex;
  append_packet(client_kex, rng, kexinit(rng, true));
  tcp.send(true, client_kex);
  std::vector<std::uint8_t> server_kex;
  append_packet(server_kex, rng, kexinit(rng, false));
  tcp.send(false, server_kex);

  std::vector<std::uint8_t> ecdh_init = {kMsgKexEcdhInit};
  put_string(ecdh_init, random_bytes(rng, 32));
  std::vector<std::uint8_t> init_packet;
  append_packet(init_packet, rng, ecdh_init);
  tcp.send(true, init_packet);

  std::vector<std::uint8_t> host_key;
  put_string(host_key, "ssh-ed25519");
  put_string(host_key, random_bytes(rng, 32));
  std::vector<std::uint8_t> signature;
  put_string(signature, "ssh-ed25519");
  put_string(signature, random_bytes(rng, 64));
  std::vector<std::uint8_t> reply = {kMsgKexEcdhReply};
  put_string(reply, host_key);
  put_string(reply, random_bytes(rng, 32));
  put_string(reply, signature);
  std::vector<std::uint8_t> reply_packets;
  append_packet(reply_packets, rng, reply);
  append_packet(reply_packets, rng, {kMsgNewKeys});
  tcp.send(false, reply_packets, rng.lognormal(0.002, 0.5));
  std::vector<std::uint8_t> newkeys;
  append_packet(newkeys, rng, {kMsgNewKeys});
  tcp.send(true, newkeys);

  // Encrypted from here on: service request, user authentication, channel open, then an
  // interactive session (keystrokes echoed, occasional command output).
  const std::size_t auth[][2] = {{32, 1}, {32, 0}, {120, 1}, {400, 0}, {420, 1}, {16, 0}, {96, 1}, {48, 0}};
  for (const auto& step : auth)
    tcp.send(step[1] == 1, encrypted_packet(rng, step[0]), rng.lognormal(0.001, 0.5));
  const int keystrokes = static_cast<int>(rng.integer(8, 60));
  for (int k = 0; k < keystrokes; ++k) {
    tcp.send(true, encrypted_packet(rng, 20), rng.lognormal(0.15, 0.9));
    if (rng.bernoulli(0.1)) {
      tcp.send(false, encrypted_packet(rng, random_size(rng, 700, 1.5, 40, 60000)), rng.lognormal(0.02, 1.0));
    } else {
      tcp.send(false, encrypted_packet(rng, 20), rng.lognormal(0.0005, 0.5));
    }
  }
  tcp.close(true, rng.lognormal(0.5, 1.0));
}

}  // namespace trafficfm::datasets::synth
