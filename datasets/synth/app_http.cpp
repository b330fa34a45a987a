#include <cstdio>

#include "datasets/synth/apps.h"

namespace trafficfm::datasets::synth {
namespace {

std::vector<std::uint8_t> text_bytes(const std::string& s) { return {s.begin(), s.end()}; }

// Printable body text (HTML-ish), so the chunks look like what servers send.
std::string body_text(core::Rng& rng, std::size_t n) {
  static const char kAlphabet[] = "abcdefghijklmnopqrstuvwxyz     <>/=\"ABCDEFGHIJ0123456789\n";
  std::string out(n, ' ');
  for (auto& c : out) c = kAlphabet[rng.integer(0, sizeof kAlphabet - 2)];
  return out;
}

}  // namespace

void http_flow(TcpConversation& tcp, core::Rng& rng, const std::string& host) {
  static const char* const kPaths[] = {
      "/",          "/index.html", "/api/v1/items", "/static/app.js", "/images/logo.png", "/search?q=traffic",
      "/news/today"};
  static const char* const kAgents[] = {
      "Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0",
      "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/119.0 Safari/537.36",
      "curl/7.88.1", "python-requests/2.31.0"};
  tcp.handshake();
  const int requests = static_cast<int>(rng.integer(1, 3));
  for (int r = 0; r < requests; ++r) {
    std::string request = std::string("GET ") + kPaths[rng.integer(0, 6)] + " HTTP/1.1\r\n";
    request += "Host: " + host + "\r\n";
    request += std::string("User-Agent: ") + kAgents[rng.integer(0, 3)] + "\r\n";
    request += "Accept: */*\r\nAccept-Encoding: identity\r\n";
    request += r + 1 < requests ? "Connection: keep-alive\r\n\r\n" : "Connection: close\r\n\r\n";
    tcp.send(true, text_bytes(request), r == 0 ? 0.0 : rng.lognormal(0.2, 1.0));

    std::string response =
        "HTTP/1.1 200 OK\r\nServer: nginx/1.22.1\r\nContent-Type: text/html; charset=utf-8\r\n"
        "Transfer-Encoding: chunked\r\n";
    response += r + 1 < requests ? "Connection: keep-alive\r\n\r\n" : "Connection: close\r\n\r\n";
    std::size_t body = random_size(rng, 6000, 1.2, 120, 400000);
    while (body > 0) {
      const std::size_t chunk = std::min(body, random_size(rng, 2048, 0.8, 64, 8192));
      char size_line[24];
      std::snprintf(size_line, sizeof size_line, "%zx\r\n", chunk);
      response += size_line + body_text(rng, chunk) + "\r\n";
      body -= chunk;
    }
    response += "0\r\n\r\n";
    tcp.send(false, text_bytes(response), rng.lognormal(0.004, 0.8));
  }
  tcp.close(rng.bernoulli(0.5), rng.lognormal(0.01, 1.0));
}

}  // namespace trafficfm::datasets::synth
