#pragma once
// The BLAS/LAPACK routines prismaquant uses, from OpenBLAS (Debian `libopenblas-dev`; link
// `prismaquant::blas`). Overloaded on float/double so templated code picks the precision.
// Matrices are row-major here; LAPACK is column-major, so the wrappers say which triangle
// they touch in row-major terms. Host-only.
#include <cblas.h>

#include <cstdint>

extern "C" {
void spotrf_(const char* uplo, const int* n, float* a, const int* lda, int* info);
void dpotrf_(const char* uplo, const int* n, double* a, const int* lda, int* info);
void strtri_(const char* uplo, const char* diag, const int* n, float* a, const int* lda, int* info);
void dtrtri_(const char* uplo, const char* diag, const int* n, double* a, const int* lda, int* info);
}

namespace prismaquant::linalg {

// C (m x n) = alpha * op(A) * op(B) + beta * C, row-major with leading dimensions.
inline void gemm(bool ta, bool tb, int m, int n, int k, float alpha, const float* a, int lda, const float* b, int ldb,
                 float beta, float* c, int ldc) {
  cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, m, n, k, alpha, a, lda, b,
              ldb, beta, c, ldc);
}
inline void gemm(bool ta, bool tb, int m, int n, int k, double alpha, const double* a, int lda, const double* b,
                 int ldb, double beta, double* c, int ldc) {
  cblas_dgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, m, n, k, alpha, a, lda, b,
              ldb, beta, c, ldc);
}

// Cholesky of a symmetric positive definite row-major n x n matrix: on return its LOWER
// triangle (row-major) holds L with A = L Lᵀ. Returns false if A is not positive definite.
// (Row-major lower = column-major upper, hence uplo "U".)
inline bool cholesky_lower(float* a, int n) {
  int info = 0;
  spotrf_("U", &n, a, &n, &info);
  return info == 0;
}
inline bool cholesky_lower(double* a, int n) {
  int info = 0;
  dpotrf_("U", &n, a, &n, &info);
  return info == 0;
}

// In-place inverse of the row-major LOWER triangular matrix in `a` (non-unit diagonal).
inline bool invert_lower(float* a, int n) {
  int info = 0;
  strtri_("U", "N", &n, a, &n, &info);
  return info == 0;
}
inline bool invert_lower(double* a, int n) {
  int info = 0;
  dtrtri_("U", "N", &n, a, &n, &info);
  return info == 0;
}

// Threads OpenBLAS may use (0: leave as is).
inline void set_threads(int n) {
  if (n > 0) openblas_set_num_threads(n);
}

}  // namespace prismaquant::linalg
