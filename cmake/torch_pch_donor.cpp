// The donor of the shared torch precompiled header (cmake/TorchPch.cmake): compiling this file
// with the PCH is what builds it; as an executable it does nothing.
int main() { return 0; }
