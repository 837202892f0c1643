// Specification of the data readers: gzip streams decompress to exactly what was compressed, IDX
// arrays decode to the values their bytes encode, and every malformed file is rejected with an
// error that names the file and says what is wrong, without reading outside the buffer.
#include "support.hpp"

#include <symflow/io.hpp>

#include <zlib.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <unistd.h>

namespace sf = symflow;
using sf::test::rng_for;
using Bytes = std::vector<std::uint8_t>;

namespace {

// gzip-compresses `data` as one member (deflate through zlib with the gzip wrapper).
Bytes gzip(const Bytes& data, int level = 6) {
  z_stream s{};
  REQUIRE(deflateInit2(&s, level, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY) == Z_OK);
  Bytes out(deflateBound(&s, static_cast<uLong>(data.size())) + 32);
  s.next_in = const_cast<Bytef*>(data.data());
  s.avail_in = static_cast<uInt>(data.size());
  s.next_out = out.data();
  s.avail_out = static_cast<uInt>(out.size());
  REQUIRE(deflate(&s, Z_FINISH) == Z_STREAM_END);
  out.resize(s.total_out);
  deflateEnd(&s);
  return out;
}

void put_u32(Bytes& b, std::uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8) b.push_back(static_cast<std::uint8_t>(v >> shift));
}

// An IDX header for `type` and `dims`, followed by `data`.
Bytes idx_file(std::uint8_t type, const std::vector<std::uint32_t>& dims, const Bytes& data) {
  Bytes b{0, 0, type, static_cast<std::uint8_t>(dims.size())};
  for (auto d : dims) put_u32(b, d);
  b.insert(b.end(), data.begin(), data.end());
  return b;
}

Bytes random_bytes(std::mt19937_64& rng, std::size_t n, int below = 256) {
  std::uniform_int_distribution<int> byte(0, below - 1);
  Bytes b(n);
  for (auto& x : b) x = static_cast<std::uint8_t>(byte(rng));
  return b;
}

// The reason the parser gives for rejecting `bytes`, or "" when it accepts them.
std::string rejection(const Bytes& bytes) {
  try {
    sf::parse_idx(bytes, "buffer.idx");
  } catch (const sf::DataFileError& e) {
    CHECK(e.file() == "buffer.idx");
    CHECK(std::string(e.what()) == "symflow: buffer.idx: " + e.reason());
    return e.reason();
  }
  return "";
}

// A scratch directory removed at the end of the test.
struct ScratchDirectory {
  std::filesystem::path path;
  ScratchDirectory() {
    path = std::filesystem::temp_directory_path() /
           ("symflow_test_io_" + std::to_string(::getpid()) + "_" + std::to_string(Catch::rngSeed()));
    std::filesystem::create_directories(path);
  }
  ~ScratchDirectory() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
  std::string write(const std::string& name, const Bytes& bytes) const {
    const std::string file = (path / name).string();
    std::ofstream(file, std::ios::binary).write(reinterpret_cast<const char*>(bytes.data()),
                                                static_cast<std::streamsize>(bytes.size()));
    return file;
  }
};

template <class F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const sf::DataFileError& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST_CASE("gzip decompression returns exactly the compressed bytes", "[io][gzip]") {
  for (int trial = 0; trial < 20; ++trial) {
    auto rng = rng_for(trial);
    // Low-entropy data compresses, random data does not: both must round-trip, at every level.
    const std::size_t n = std::uniform_int_distribution<std::size_t>(0, 300000)(rng);
    const Bytes data = random_bytes(rng, n, trial % 2 ? 256 : 3);
    const Bytes packed = gzip(data, trial % 10);
    INFO("trial " << trial << ", " << n << " bytes");
    CHECK(sf::is_gzip(packed));
    CHECK(sf::gunzip(packed, "x.gz") == data);
  }
}

TEST_CASE("concatenated gzip members decompress to the concatenation", "[io][gzip]") {
  auto rng = rng_for(0);
  const Bytes a = random_bytes(rng, 1000, 4), b = random_bytes(rng, 70000, 4);
  const auto concatenate = [](const Bytes& x, const Bytes& y) {
    Bytes xy(x.size() + y.size());
    std::copy(y.begin(), y.end(), std::copy(x.begin(), x.end(), xy.begin()));
    return xy;
  };
  const Bytes both = concatenate(gzip(a), gzip(b));
  const Bytes expected = concatenate(a, b);
  CHECK(sf::gunzip(both, "x.gz") == expected);
}

TEST_CASE("broken gzip streams are rejected with the reason", "[io][gzip]") {
  auto rng = rng_for(1);
  const Bytes data = random_bytes(rng, 5000, 16);
  const Bytes packed = gzip(data);
  const auto reason = [](const Bytes& b, std::size_t max = sf::default_max_decompressed_bytes) {
    try {
      sf::gunzip(b, "x.gz", max);
    } catch (const sf::DataFileError& e) {
      CHECK(e.file() == "x.gz");
      return e.reason();
    }
    return std::string();
  };
  CHECK_THAT(reason({}), Catch::Contains("is empty"));
  CHECK_THAT(reason({0x00, 0x00, 0x08, 0x01}), Catch::Contains("not gzip-compressed"));
  // Every proper prefix is a truncated (or, cut inside the header, corrupt) stream.
  for (std::size_t len = 2; len < packed.size(); ++len) {
    INFO("prefix of " << len << " bytes");
    const std::string r = reason(Bytes(packed.begin(), packed.begin() + static_cast<std::ptrdiff_t>(len)));
    CHECK(!r.empty());
  }
  CHECK_THAT(reason(Bytes(packed.begin(), packed.end() - 1)), Catch::Contains("truncated"));
  // The CRC-32 and length trailer catch a flipped bit in the last byte of the compressed data.
  Bytes flipped = packed;
  flipped[flipped.size() - 9] ^= 0x01;
  CHECK(!reason(flipped).empty());
  Bytes crc = packed;
  crc[crc.size() - 5] ^= 0x80;
  CHECK_THAT(reason(crc), Catch::Contains("corrupt"));
  Bytes trailing = packed;
  trailing.push_back(0x42);
  CHECK_THAT(reason(trailing), Catch::Contains("after the end of the gzip stream"));
  CHECK_THAT(reason(packed, 4999), Catch::Contains("more than 4999 bytes"));
  CHECK(reason(packed, 5000).empty());
}

TEST_CASE("IDX arrays decode the big-endian values their bytes encode", "[io][idx]") {
  SECTION("unsigned bytes keep their shape and values") {
    auto rng = rng_for(2);
    const Bytes data = random_bytes(rng, 2 * 3 * 5);
    const sf::IdxArray a = sf::parse_idx(idx_file(0x08, {2, 3, 5}, data), "a");
    CHECK(a.type() == sf::IdxType::unsigned_byte);
    CHECK(a.dims() == std::vector<std::uint32_t>{2, 3, 5});
    REQUIRE(a.size() == 30);
    for (std::size_t i = 0; i < 30; ++i) CHECK(a.value(i) == data[i]);
    CHECK_THROWS_AS(a.value(30), std::out_of_range);
  }
  SECTION("every element type, with known bit patterns") {
    CHECK(sf::parse_idx(idx_file(0x09, {2}, {0xff, 0x7f}), "s8").value(0) == -1.0);
    CHECK(sf::parse_idx(idx_file(0x09, {2}, {0xff, 0x7f}), "s8").value(1) == 127.0);
    CHECK(sf::parse_idx(idx_file(0x0B, {1}, {0xff, 0xfe}), "i16").value(0) == -2.0);
    CHECK(sf::parse_idx(idx_file(0x0B, {1}, {0x01, 0x02}), "i16").value(0) == 258.0);
    CHECK(sf::parse_idx(idx_file(0x0C, {1}, {0x80, 0, 0, 0}), "i32").value(0) == -2147483648.0);
    CHECK(sf::parse_idx(idx_file(0x0C, {1}, {0, 1, 0, 0}), "i32").value(0) == 65536.0);
    CHECK(sf::parse_idx(idx_file(0x0D, {1}, {0x3f, 0x80, 0, 0}), "f32").value(0) == 1.0);
    CHECK(sf::parse_idx(idx_file(0x0D, {1}, {0xc0, 0x49, 0x0f, 0xdb}), "f32").value(0) ==
          static_cast<double>(-3.14159274101257324f));
    CHECK(sf::parse_idx(idx_file(0x0E, {1}, {0x40, 0, 0, 0, 0, 0, 0, 0}), "f64").value(0) == 2.0);
    CHECK(sf::parse_idx(idx_file(0x0E, {1}, {0xbf, 0xf8, 0, 0, 0, 0, 0, 0}), "f64").value(0) == -1.5);
  }
  SECTION("a zero dimension is an empty array") {
    const sf::IdxArray a = sf::parse_idx(idx_file(0x0C, {4, 0}, {}), "empty");
    CHECK(a.size() == 0);
  }
}

TEST_CASE("malformed IDX headers and lengths are rejected with the reason", "[io][idx]") {
  CHECK_THAT(rejection({}), Catch::Contains("too short for an IDX header: 0 bytes"));
  CHECK_THAT(rejection({0, 0, 8}), Catch::Contains("too short"));
  CHECK_THAT(rejection({0x1f, 0x8b, 8, 1, 0, 0, 0, 0}), Catch::Contains("magic number 1f 8b 08 01"));
  CHECK_THAT(rejection({0, 1, 8, 1, 0, 0, 0, 0}), Catch::Contains("not an IDX file"));
  CHECK_THAT(rejection({0, 0, 0x0A, 1, 0, 0, 0, 0}), Catch::Contains("unknown IDX element type 0x0a"));
  CHECK_THAT(rejection({0, 0, 8, 0}), Catch::Contains("declares 0 dimensions"));
  CHECK_THAT(rejection({0, 0, 8, 3, 0, 0, 0, 1, 0, 0}), Catch::Contains("truncated IDX header: 3 dimensions need 16"));
  CHECK_THAT(rejection(idx_file(0x08, {2, 3}, Bytes(5))),
             Catch::Contains("has 5 data bytes, but its header's dimensions 2 x 3 of unsigned bytes need 6") &&
                 Catch::Contains("truncated"));
  CHECK_THAT(rejection(idx_file(0x0E, {2}, Bytes(17))), Catch::Contains("need 16 (extra bytes at the end)"));
  CHECK_THAT(rejection(idx_file(0x0E, {0xffffffff, 0xffffffff, 0xffffffff}, {})), Catch::Contains("overflows"));
  // 2^32 · 2^32 elements of 8 bytes overflow only in the byte count on 64-bit machines; either way rejected.
  CHECK(!rejection(idx_file(0x0E, {0xffffffff, 0xffffffff}, {})).empty());
}

TEST_CASE("every prefix and every single-byte corruption of an IDX file is parsed or rejected, never overread",
          "[io][idx]") {
  // Under AddressSanitizer this also proves that no read leaves the buffer.
  auto rng = rng_for(3);
  const Bytes good = idx_file(0x0B, {3, 2, 2}, random_bytes(rng, 24));
  REQUIRE(rejection(good).empty());
  for (std::size_t len = 0; len < good.size(); ++len) {
    INFO("prefix of " << len << " bytes");
    CHECK(!rejection(Bytes(good.begin(), good.begin() + static_cast<std::ptrdiff_t>(len))).empty());
  }
  for (std::size_t i = 0; i < 16; ++i) {
    for (int v = 0; v < 256; v += 17) {
      Bytes b = good;
      b[i] = static_cast<std::uint8_t>(v);
      const std::string r = rejection(b);
      // Changing a header byte is accepted only when it leaves the header valid and the length right.
      if (r.empty()) {
        const sf::IdxArray a = sf::parse_idx(b, "b");
        std::size_t count = 1;
        for (auto d : a.dims()) count *= d;
        CHECK(count * sf::idx_element_size(a.type()) + 4 + 4 * a.dims().size() == b.size());
      }
    }
  }
}

TEST_CASE("images and labels are validated for type, shape, range and matching counts", "[io][idx]") {
  auto rng = rng_for(4);
  const Bytes pixels = random_bytes(rng, 7 * 4 * 3);
  const sf::IdxImages<double> images = sf::idx_images<double>(sf::parse_idx(idx_file(0x08, {7, 4, 3}, pixels), "i"), "i");
  REQUIRE(images.pixels.rows() == 12);
  REQUIRE(images.count() == 7);
  CHECK(images.rows == 4);
  CHECK(images.columns == 3);
  // Column j is image j in row-major pixel order, scaled to [0, 1].
  for (sf::Index j = 0; j < 7; ++j)
    for (sf::Index i = 0; i < 12; ++i) CHECK(images.pixels(i, j) == pixels[static_cast<std::size_t>(12 * j + i)] / 255.0);
  CHECK(images.pixels.minCoeff() >= 0.0);
  CHECK(images.pixels.maxCoeff() <= 1.0);

  const auto images_error = [](const Bytes& b) {
    return error_of([&] { sf::idx_images<float>(sf::parse_idx(b, "img"), "img"); });
  };
  CHECK_THAT(images_error(idx_file(0x09, {1, 1, 1}, {0})), Catch::Contains("img: holds signed bytes, expected unsigned bytes"));
  CHECK_THAT(images_error(idx_file(0x08, {2, 3}, Bytes(6))), Catch::Contains("has 2 dimensions, expected 3"));
  CHECK_THAT(images_error(idx_file(0x08, {0, 28, 28}, {})), Catch::Contains("expected no zero dimension"));

  const Bytes labels_bytes{0, 9, 3, 9};
  CHECK(sf::idx_labels(sf::parse_idx(idx_file(0x08, {4}, labels_bytes), "l"), "l", 10) == std::vector<int>{0, 9, 3, 9});
  CHECK_THAT(error_of([&] { sf::idx_labels(sf::parse_idx(idx_file(0x08, {4}, {0, 9, 10, 1}), "lab"), "lab", 10); }),
             Catch::Contains("lab: has label 10 at index 2, outside the classes 0 to 9"));
  CHECK_THAT(error_of([&] { sf::idx_labels(sf::parse_idx(idx_file(0x08, {2, 2}, {0, 1, 2, 3}), "lab"), "lab", 10); }),
             Catch::Contains("has 2 dimensions, expected 1 for labels"));
  CHECK_THAT(error_of([&] { sf::idx_labels(sf::parse_idx(idx_file(0x0C, {1}, {0, 0, 0, 1}), "lab"), "lab", 10); }),
             Catch::Contains("holds 32-bit integers, expected unsigned bytes"));
  CHECK_THROWS_AS(sf::idx_labels(sf::parse_idx(idx_file(0x08, {1}, {0}), "lab"), "lab", 0), std::invalid_argument);

  CHECK_THAT(error_of([&] { sf::labelled_images(images, std::vector<int>(6, 0), 10, "img", "lab"); }),
             Catch::Contains("symflow: lab: has 6 labels, but img has 7 images"));
  CHECK(sf::labelled_images(images, std::vector<int>(7, 1), 10, "img", "lab").count() == 7);
}

TEST_CASE("files are read compressed or not, and errors name the file", "[io][idx]") {
  const ScratchDirectory dir;
  auto rng = rng_for(5);
  const Bytes pixels = random_bytes(rng, 5 * 2 * 2);
  const Bytes images_file = idx_file(0x08, {5, 2, 2}, pixels);
  const std::string images_gz = dir.write("images.gz", gzip(images_file));
  const std::string images_raw = dir.write("images", images_file);
  const std::string labels_gz = dir.write("labels.gz", gzip(idx_file(0x08, {5}, {0, 1, 2, 1, 0})));
  const std::string short_labels = dir.write("short.gz", gzip(idx_file(0x08, {4}, {0, 1, 2, 1})));

  const auto a = sf::read_idx_labelled_images<double>(images_gz, labels_gz, 3);
  const auto b = sf::read_idx_labelled_images<double>(images_raw, labels_gz, 3);
  CHECK(a.images.pixels == b.images.pixels);
  CHECK(a.labels == std::vector<int>{0, 1, 2, 1, 0});
  CHECK(a.classes == 3);

  CHECK_THAT(error_of([&] { sf::read_idx_labelled_images<double>(images_gz, labels_gz, 2); }),
             Catch::Contains(labels_gz + ": has label 2 at index 2"));
  CHECK_THAT(error_of([&] { sf::read_idx_labelled_images<double>(images_gz, short_labels, 3); }),
             Catch::Contains(short_labels + ": has 4 labels, but " + images_gz + " has 5 images"));
  const std::string missing = (dir.path / "missing.gz").string();
  CHECK_THAT(error_of([&] { sf::read_idx(missing); }),
             Catch::Contains(missing + ": cannot be opened: No such file or directory"));
  CHECK_THAT(error_of([&] { sf::read_idx(dir.path.string()); }), Catch::Contains("cannot be read"));
  Bytes cut = gzip(images_file);
  cut.resize(cut.size() / 2);
  const std::string cut_file = dir.write("cut.gz", cut);
  CHECK_THAT(error_of([&] { sf::read_idx(cut_file); }), Catch::Contains(cut_file + ": is a truncated gzip stream"));
  CHECK_THAT(error_of([&] { sf::read_fashion_mnist<double>(sf::FashionMnistSplit::test, dir.path.string()); }),
             Catch::Contains("t10k-images-idx3-ubyte.gz: does not exist"));
}

TEST_CASE("the Fashion-MNIST test split has 10000 28x28 images, 1000 per class", "[io][fashion-mnist]") {
  if (!std::filesystem::exists(sf::fashion_mnist_default_directory)) {
    WARN("Fashion-MNIST is not installed at " << sf::fashion_mnist_default_directory
                                              << " (Debian package dataset-fashion-mnist); not checked");
    return;
  }
  const auto test = sf::read_fashion_mnist<float>(sf::FashionMnistSplit::test);
  CHECK(test.count() == 10000);
  CHECK(test.images.rows == 28);
  CHECK(test.images.columns == 28);
  CHECK(test.images.pixels.rows() == 784);
  std::vector<int> per_class(10, 0);
  for (int y : test.labels) ++per_class[static_cast<std::size_t>(y)];
  CHECK(per_class == std::vector<int>(10, 1000));
  CHECK(test.images.pixels.minCoeff() == 0.0f);
  CHECK(test.images.pixels.maxCoeff() == 1.0f);
}
