// LibTorch as trafficfm uses it: the BLAS it calls is OpenBLAS (not the 8x slower reference
// BLAS) and matrix products agree with a plain loop. Built with the LibTorch precompiled header.
#include <gtest/gtest.h>

#include "core/runtime_info.h"

namespace trafficfm::core {
namespace {

TEST(TorchRuntime, MatmulMatchesNaiveLoop) {
  torch::manual_seed(0);
  const auto a = torch::randn({37, 53}, torch::kFloat64);
  const auto b = torch::randn({53, 29}, torch::kFloat64);
  const auto c = torch::matmul(a, b);
  auto pa = a.accessor<double, 2>();
  auto pb = b.accessor<double, 2>();
  auto pc = c.accessor<double, 2>();
  for (int i = 0; i < 37; ++i) {
    for (int j = 0; j < 29; ++j) {
      double sum = 0;
      for (int k = 0; k < 53; ++k) sum += pa[i][k] * pb[k][j];
      ASSERT_NEAR(pc[i][j], sum, 1e-10);
    }
  }
}

TEST(TorchRuntime, LoadedBlasIsOpenBlas) {
  // A product big enough to go through BLAS (sgemm) before asking what is loaded.
  const auto x = torch::ones({64, 64});
  EXPECT_FLOAT_EQ(torch::mm(x, x)[0][0].item<float>(), 64.0f);
  const BlasInfo blas = loaded_blas();
  EXPECT_EQ(blas.vendor, "OpenBLAS") << "loaded BLAS: " << blas.path
                                     << " (run scripts/setup.sh, which installs libopenblas0-openmp)";
  EXPECT_FALSE(blas.is_reference());
}

}  // namespace
}  // namespace trafficfm::core
