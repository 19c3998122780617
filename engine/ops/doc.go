// Package ops owns the numeric kernels of the engine: frozen weights in
// float32 or bfloat16 and their products (MulT, Mul), the matrix-multiply
// backend (Gemm), the element-wise kernels of a layer (softmax's exp and
// max, SwiGLU, dropout, scaling), the worker pool they split work over,
// and the choice of instruction set they run with. It knows nothing of
// models: engine/nn composes these kernels into layers.
//
// Shapes are row-major. A Linear weight has PyTorch's layout [out, in] and
// computes y = x·Wᵀ.
//
// # Backends
//
// The default build (cgo) has three kinds of products:
//   - Products with a weight and more than GEMVMaxN input rows (prefill,
//     training) run on tiled AVX-512 or AVX2 kernels (tiled.c) that read
//     the weight in place and widen bfloat16 as they go. sgemm would repack
//     the whole weight on every call, which at 64–256 input rows costs about
//     as much as the arithmetic (see BenchmarkTiledVsSgemm).
//   - Decode-shaped products (n ≤ GEMVMaxN input rows) are bound by memory
//     bandwidth: vector kernels stream the weight once per call, the threads
//     taking chunks of 256 KiB of weight rows in turn (each chunk one
//     sequential read), so a bfloat16 weight (half the bytes) is about twice
//     as fast as float32. StreamWeights reads weights the same way and does
//     nothing else: the bound the decode benchmarks compare against.
//     Batched decoding (n > 1) runs every input through the one-input
//     kernel over each block of rows while the block is in cache, so row i
//     of MulT's result is bit for bit what MulT gives for input i alone:
//     a sample's output does not depend on the batch it is decoded in.
//   - Gemm (attention, LoRA) runs on OpenBLAS through gonum.org/v1/netlib.
//
// Without AVX-512 the weight products with many rows run on the AVX2/FMA
// tiled kernels and the decode kernels on AVX2/FMA. Without AVX2 and FMA
// (or with QWENTUNE_GEMM=blas) the weight products with many rows go to
// sgemm, bfloat16 widened block by block into a reused float32 scratch, and
// the decode kernels use scalar C (or, with QWENTUNE_GEMM=blas, AVX2). With
// -tags purego, or without cgo, every product runs on gonum's pure-Go BLAS
// and Go loops, behind the same API.
//
// # Kernel families
//
// The C kernels come in families named after the instruction sets their
// vector code needs (Family): Scalar (any x86-64), AVX2 (AVX2 and FMA) and
// AVX512 (those and AVX-512 F, BW, VL and DQ). The CPU's features are
// detected once, in Go (isa.go, golang.org/x/sys/cpu), the best family
// this CPU runs is put in force, and the C side is told with one setter
// (ops_set_family). ISA reports the family in force and Features the CPU's
// features, including AVX512_BF16 and AVX512_VNNI, which no family needs
// yet. Each vector function carries its own target attribute, never a
// file-wide -m flag, so the scalar code stays runnable on any x86-64. The
// kernel tests run every family explicitly, in subtests named after it,
// and report a family this CPU cannot run as NOT TESTED; TestFamilyRuns
// checks, with run counters in the C code, that each family in force
// really runs its own code.
//
// # Files
//
// C kernels (compiled by cgo; kernels.h has the shared macros, helpers and
// the entry points, exp.h the float32 e^x):
//   - gemv.c: products of a weight with at most GEMVMaxN inputs (decode):
//     MulT in AVX2/scalar and the batched AVX-512 MulT; Mul in AVX2/scalar.
//   - tiled.c: products of a weight with many inputs, AVX-512 and AVX2.
//   - dpbf16.c: bfloat16-compute products (MulTBF16, MulBF16) on
//     VDPBF16PS, in the AVX-512 family where the CPU has AVX512_BF16.
//   - amx.c: the same products on AMX tiles (TDPBF16PS) where the CPU has
//     AMX-BF16 and Linux grants the tile state (QWENTUNE_AMX=off turns
//     them off); also the tile unit's peak loop.
//   - q8.c: Q8_0 weights: quantisation, the decode MulT (widening each
//     block to float32 in registers; MulTInfer's int8 kernels on 8-bit
//     inputs, VPDPBUSD where the CPU has AVX512_VNNI and ggml's AVX2
//     VPMADDUBSW product otherwise), dequantisation to float32 or bfloat16
//     for the blocked products.
//   - q8p.c: Q8_0 weights in the packed layout (16 rows interleaved, where
//     the CPU has AVX512_VNNI): packing, the VPDPBUSD decode MulT that
//     reads them, and their dequantisation by rows and blocks.
//   - softmax.c: a row's maximum and e^(x − shift) with the sum.
//   - swiglu.c: SwiGLU and its backward.
//   - dropout.c: counter-based dropout.
//   - vec.c: row scaling, bfloat16 widening, a pure read of memory.
//   - isa.c: the family in force and the test run counters.
//
// The x86 kernels above build on amd64 only (immintrin.h); on other
// architectures cgo builds the Go twins, plus on arm64:
//   - neon.c (neon_arm64.go): the decode MulT and Mul in NEON, float32 and
//     bfloat16 weights, which gemv_go.go hands its work to; the baseline
//     family prints as "neon" there.
//   - accelerate_darwin.c: on macOS, openblas.go links Apple's Accelerate
//     (the same CBLAS calls) and this answers OpenBLAS's own four calls.
//
// Go, one file per concern; a *_c.go file (cgo) calls the C kernels and its
// *_go.go twin (-tags purego, no cgo, or not amd64) has the same functions in Go:
//   - ops.go: Weight, MulT, Mul, Gemm, bfloat16 conversion.
//   - gemv_c.go, gemv_go.go: the decode products.
//   - tiled.go (the driver), tiled_c.go, tiled_go.go: the tiled products.
//   - bf16.go (the driver and the widening fallback), bf16_c.go, bf16_go.go:
//     bfloat16 compute (activations rounded to bfloat16, float32 sums).
//   - q8.go (the format: QuantizeQ8_0, DequantizeQ8_0), q8p.go (the
//     packed layout: PacksQ8, NewQ8Weight, SetQ8Rows, UnpackQ8), q8mul.go
//     (the products' driver), q8_c.go, q8_go.go: Q8_0 weights.
//   - softmax_c.go, softmax_go.go, exp_go.go: ExpShiftSum, MaxF32.
//   - swiglu_c.go, swiglu_go.go: SwiGLU, SwiGLUBackward.
//   - dropout.go (the mask's constants), dropout_c.go, dropout_go.go: Dropout.
//   - vec_c.go, vec_go.go: Scale, bfloat16 widening, reading memory.
//   - isa.go, isa_c.go, isa_go.go: families, CPU features, ISA, Features.
//   - openblas.go, gonum.go: the BLAS behind Gemm and sgemm (Backend).
//   - pool.go: the worker pool (Parallel, Threads).
//   - measure.go: peak sgemm rate and memory bandwidth, StreamWeights.
//
// # Who owns the cores
//
// The engine runs one heavy operation at a time, and that operation owns all
// cores while it runs. Parallel, the tiled and decode kernels and Gemm split
// work over a persistent pool of Threads() goroutines (GOMAXPROCS), the
// caller doing the first chunk. The decode kernels hand their rows out in
// chunks from a shared counter (runDynamic) rather than in fixed shares: on
// a shared virtual machine one core often runs slower than the other, and
// with fixed halves the faster one waited at the end of every product. The
// pool starts once, so a call does not spawn goroutines or allocate: the
// decode loop stays allocation-free.
//
// When the tiled kernels are on, OpenBLAS runs single-threaded
// (SetBLASThreads(1)) and Gemm splits a large product over the pool, each
// chunk one sgemm call: after a multi-threaded call OpenBLAS's workers poll
// with sched_yield before they sleep, and they would take cores from the
// pool's next kernel. Without the tiled kernels OpenBLAS owns the cores
// inside each BLAS call (one thread per core) while Go code waits, and the
// two take turns rather than share. The sgemm peak the benchmarks compare
// against is measured with OpenBLAS's own threads either way.
package ops
