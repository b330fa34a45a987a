// Precompiled for targets that use the LibTorch C++ API (see cmake/TorchPch.cmake).
#pragma once
#include <torch/torch.h>
