// SPDX-License-Identifier: MIT
#pragma once
/// \file Exact conversions between the bit patterns of narrow binary floating-point formats and
/// double: IEEE 754 binary16 (PyTorch's float16), bfloat16 and binary32 (float), decoded bit by bit.
///
/// Each format is sign | biased exponent (E bits) | fraction (M bits). A pattern with exponent
/// field 0 is ±fraction · 2^(1 − bias − M) (zero or subnormal), one with all exponent bits set is ±∞
/// (fraction 0) or NaN, any other is ±(2^M + fraction) · 2^(exponent − bias − M), bias = 2^(E−1) − 1.
/// double (E = 11, M = 52) holds every such value exactly, subnormals included (the smallest,
/// binary32's 2^−149, is a normal double). NaNs keep their sign and payload, shifted into the top
/// of double's fraction, so the quiet bit stays the quiet bit — a hardware conversion would quieten
/// a signalling NaN and change its bits.

#include <bit>
#include <cmath>
#include <cstdint>

namespace symflow {

namespace detail {

/// The double equal to the binary floating-point number with `ExponentBits` exponent bits and
/// `FractionBits` fraction bits whose bit pattern is `bits` (the low 1 + E + M bits).
template <int ExponentBits, int FractionBits>
constexpr double decode_binary_float(std::uint64_t bits) {
  static_assert(ExponentBits >= 2 && ExponentBits <= 11 && FractionBits >= 1 && FractionBits <= 52,
                "the format must fit in a double");
  constexpr int bias = (1 << (ExponentBits - 1)) - 1;
  constexpr std::uint64_t fraction_mask = (std::uint64_t{1} << FractionBits) - 1;
  constexpr std::uint64_t exponent_all_ones = (std::uint64_t{1} << ExponentBits) - 1;
  const std::uint64_t sign = (bits >> (ExponentBits + FractionBits)) & 1;
  const std::uint64_t exponent = (bits >> FractionBits) & exponent_all_ones;
  std::uint64_t fraction = bits & fraction_mask;
  std::uint64_t double_exponent = 0;  // biased by 1023
  if (exponent == exponent_all_ones) {
    double_exponent = 2047;  // ±∞ or NaN (payload kept below)
  } else if (exponent != 0) {
    double_exponent = exponent - bias + 1023;
  } else if (fraction != 0) {
    // Subnormal: shift the leading 1 up to the implicit bit, lowering the exponent once per shift.
    int e = 1 - bias;
    while ((fraction & (std::uint64_t{1} << FractionBits)) == 0) {
      fraction <<= 1;
      --e;
    }
    fraction &= fraction_mask;
    double_exponent = static_cast<std::uint64_t>(e + 1023);
  }
  return std::bit_cast<double>((sign << 63) | (double_exponent << 52) | (fraction << (52 - FractionBits)));
}

}  // namespace detail

/// The value of an IEEE 754 binary16 (half precision, PyTorch's torch.float16) pattern.
constexpr double half_to_double(std::uint16_t bits) { return detail::decode_binary_float<5, 10>(bits); }

/// The value of a bfloat16 pattern (PyTorch's torch.bfloat16: binary32's top 16 bits).
constexpr double bfloat16_to_double(std::uint16_t bits) { return detail::decode_binary_float<8, 7>(bits); }

/// The value of an IEEE 754 binary32 (float) pattern.
constexpr double float_bits_to_double(std::uint32_t bits) { return detail::decode_binary_float<8, 23>(bits); }

/// The smallest magnitude that rounds to infinity in binary32: FLT_MAX + half its last place,
/// (2 − 2^−24) · 2^127 (a tie, rounded to the even neighbour 2^128).
inline constexpr double float_overflow_threshold = 0x1.ffffffp+127;

/// The binary32 pattern of x rounded to nearest (ties to even), for |x| below
/// float_overflow_threshold, ±∞ and NaN. A NaN keeps its sign and the top 23 bits of its payload
/// (made quiet if those are all zero), so a NaN read from binary32 is written back bit for bit.
inline std::uint32_t double_to_float_bits(double x) {
  if (std::isnan(x)) {
    const std::uint64_t bits = std::bit_cast<std::uint64_t>(x);
    std::uint32_t payload = static_cast<std::uint32_t>((bits >> 29) & 0x7FFFFFu);
    if (payload == 0) payload = 0x400000u;
    return (static_cast<std::uint32_t>(bits >> 63) << 31) | 0x7F800000u | payload;
  }
  return std::bit_cast<std::uint32_t>(static_cast<float>(x));
}

}  // namespace symflow
