// Placeholder translation unit until the first kernel family lands.
namespace flowps::kernels {}
