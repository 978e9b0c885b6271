#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cstring>
#include <fstream>

#include "core/atomic_output.h"
#include "core/error.h"
#include "core/safetensors.h"
#include "test_util.h"

using namespace fratmae;
namespace fs = std::filesystem;

namespace {

// The raw bytes of a tensor (bit-exact comparison, NaN payloads included).
std::string raw_bytes(const at::Tensor& t) {
  const at::Tensor c = t.contiguous();
  return std::string(static_cast<const char*>(c.data_ptr()), c.nbytes());
}

void expect_same(const at::Tensor& a, const at::Tensor& b, const std::string& name) {
  ASSERT_TRUE(b.defined()) << name;
  EXPECT_EQ(a.scalar_type(), b.scalar_type()) << name;
  EXPECT_EQ(a.sizes(), b.sizes()) << name;
  EXPECT_EQ(raw_bytes(a), raw_bytes(b)) << name;
}

// Random bit patterns of any dtype (0/1 for bool).
at::Tensor random_tensor(at::ScalarType dtype, at::IntArrayRef shape) {
  int64_t numel = 1;
  for (int64_t d : shape) numel *= d;
  if (dtype == at::kBool) return at::randint(0, 2, shape, at::kByte).to(at::kBool);
  const int64_t nbytes = numel * static_cast<int64_t>(at::elementSize(dtype));
  return at::randint(0, 256, {nbytes}, at::kByte).view(dtype).reshape(shape).clone();
}

// A safetensors file from a header text and a data buffer (header size written little-endian).
std::string st_file(const std::string& header, const std::string& data) {
  std::string out(8, '\0');
  uint64_t n = header.size();
  for (int i = 0; i < 8; ++i) out[i] = static_cast<char>((n >> (8 * i)) & 0xff);
  return out + header + data;
}

// The error message of parse_safetensors(bytes), or "" when it succeeds.
std::string parse_error(const std::string& bytes) {
  try {
    parse_safetensors(bytes, "model.safetensors");
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

std::string f32_bytes(std::initializer_list<float> v) {
  std::string s(v.size() * 4, '\0');
  std::memcpy(s.data(), v.begin(), s.size());
  return s;
}

}  // namespace

// ---------------------------------------------------------------------------------------
// Round trips

TEST(Safetensors, RoundTripEveryDtypeBitExact) {
  at::manual_seed(0);
  std::map<std::string, at::Tensor> tensors;
  for (at::ScalarType t : {at::kFloat, at::kHalf, at::kBFloat16, at::kDouble, at::kLong, at::kInt,
                           at::kShort, at::kChar, at::kByte, at::kBool}) {
    const std::string n = safetensors_dtype_name(t);
    tensors[n + ".matrix"] = random_tensor(t, {3, 5});
    tensors[n + ".scalar"] = random_tensor(t, {});
    tensors[n + ".empty"] = random_tensor(t, {0, 4});
    tensors[n + ".4d"] = random_tensor(t, {2, 1, 3, 2});
  }
  const SafetensorsFile f = parse_safetensors(serialize_safetensors(tensors), "mem");
  ASSERT_EQ(f.tensors.size(), tensors.size());
  EXPECT_TRUE(f.metadata.empty());
  for (const auto& [name, t] : tensors) {
    const at::Tensor& got = f.tensors.at(name);
    expect_same(t, got, name);
    EXPECT_TRUE(got.is_contiguous());
    EXPECT_EQ(got.device(), at::Device(at::kCPU));
  }
  EXPECT_EQ(f.tensors.at("F32.scalar").dim(), 0);
  EXPECT_EQ(f.tensors.at("F32.empty").numel(), 0);

  test::TempDir tmp;
  save_safetensors(tmp / "all.safetensors", tensors);
  const SafetensorsFile g = load_safetensors(tmp / "all.safetensors");
  ASSERT_EQ(g.tensors.size(), tensors.size());
  for (const auto& [name, t] : tensors) expect_same(t, g.tensors.at(name), name);
  EXPECT_EQ(read_file(tmp / "all.safetensors"), serialize_safetensors(tensors));
}

TEST(Safetensors, LoadedTensorsOwnTheirMemory) {
  std::string bytes = serialize_safetensors({{"x", at::arange(4, at::kFloat)}});
  const SafetensorsFile f = parse_safetensors(bytes, "mem");
  bytes.assign(bytes.size(), '\xff');  // the parsed tensor must not point into `bytes`
  EXPECT_TRUE(at::equal(f.tensors.at("x"), at::arange(4, at::kFloat)));
}

TEST(Safetensors, SavesValuesOfNonContiguousAndGradTensors) {
  const at::Tensor base = at::arange(6, at::kFloat).reshape({2, 3});
  const at::Tensor transposed = base.t();  // non-contiguous view
  const at::Tensor strided = at::arange(10, at::kLong).slice(0, 1, 10, 3);  // 1, 4, 7
  const at::Tensor grad = at::ones({2}).set_requires_grad(true) * 3;  // has grad_fn
  const SafetensorsFile f = parse_safetensors(
      serialize_safetensors({{"t", transposed}, {"s", strided}, {"g", grad}}), "mem");
  EXPECT_TRUE(at::equal(f.tensors.at("t"), transposed.contiguous()));
  EXPECT_TRUE(at::equal(f.tensors.at("s"), at::tensor({1, 4, 7}, at::kLong)));
  EXPECT_FALSE(f.tensors.at("g").requires_grad());
  EXPECT_TRUE(at::equal(f.tensors.at("g"), at::full({2}, 3.0f)));
}

TEST(Safetensors, MetadataRoundTrip) {
  const std::map<std::string, std::string> meta = {
      {"format", "pt"}, {"config", "{\"dim\": 768, \"note\": \"quotes \\\" and \\n\"}"},
      {"unicode", "Ä µ 日本"}, {"empty", ""}};
  const at::Tensor x = at::randn({4});
  const SafetensorsFile f = parse_safetensors(serialize_safetensors({{"x", x}}, meta), "mem");
  EXPECT_EQ(f.metadata, meta);
  expect_same(x, f.tensors.at("x"), "x");

  test::TempDir tmp;
  save_safetensors(tmp / "m.safetensors", {}, meta);  // metadata only, no tensors
  const SafetensorsFile g = load_safetensors(tmp / "m.safetensors");
  EXPECT_EQ(g.metadata, meta);
  EXPECT_TRUE(g.tensors.empty());
}

// ---------------------------------------------------------------------------------------
// Exact bytes

TEST(Safetensors, ByteLevelTestVector) {
  // {"a": F32 [1.0, 2.0]}. The header JSON is compact, keys in the order dtype, shape,
  // data_offsets (as the reference library writes them):
  //   {"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}
  // = 5 ({"a":) + 15 ({"dtype":"F32",) + 12 ("shape":[2],) + 20 ("data_offsets":[0,8])
  //   + 2 (}}) = 54 bytes, padded with 2 spaces to 56 = 0x38.
  const std::vector<uint8_t> expected = {
      0x38, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,  // N = 56, little-endian u64
      '{',  '"',  'a',  '"',  ':',  '{',  '"',  'd',  't',  'y',  'p',  'e',  '"',  ':',
      '"',  'F',  '3',  '2',  '"',  ',',  '"',  's',  'h',  'a',  'p',  'e',  '"',  ':',
      '[',  '2',  ']',  ',',  '"',  'd',  'a',  't',  'a',  '_',  'o',  'f',  'f',  's',
      'e',  't',  's',  '"',  ':',  '[',  '0',  ',',  '8',  ']',  '}',  '}',  ' ',  ' ',
      0x00, 0x00, 0x80, 0x3f,  // 1.0f
      0x00, 0x00, 0x00, 0x40,  // 2.0f
  };
  ASSERT_EQ(expected.size(), 8u + 56u + 8u);
  const std::string got = serialize_safetensors({{"a", at::tensor({1.0f, 2.0f})}});
  EXPECT_EQ(std::vector<uint8_t>(got.begin(), got.end()), expected);
}

TEST(Safetensors, HeaderOrderIsDtypeWidthThenNameAndMetadataFirst) {
  // Data buffer order: I64 first, then F32 (by name: "a" < "w"), F16, BOOL; so every tensor
  // is aligned to its element size. Metadata keys sorted.
  const std::map<std::string, at::Tensor> tensors = {
      {"w", at::tensor({1.0f, 2.0f})},
      {"a", at::tensor({3.0f})},
      {"step", at::scalar_tensor(7, at::kLong)},
      {"mask", at::tensor({1, 0, 1}, at::kByte).to(at::kBool)},
      {"h", at::tensor({1.0f}).to(at::kHalf)}};
  const std::string bytes = serialize_safetensors(tensors, {{"z", "1"}, {"format", "pt"}});
  const std::string json =
      R"({"__metadata__":{"format":"pt","z":"1"},)"
      R"("step":{"dtype":"I64","shape":[],"data_offsets":[0,8]},)"
      R"("a":{"dtype":"F32","shape":[1],"data_offsets":[8,12]},)"
      R"("w":{"dtype":"F32","shape":[2],"data_offsets":[12,20]},)"
      R"("h":{"dtype":"F16","shape":[1],"data_offsets":[20,22]},)"
      R"("mask":{"dtype":"BOOL","shape":[3],"data_offsets":[22,25]}})";
  uint64_t n;
  std::memcpy(&n, bytes.data(), 8);
  EXPECT_EQ(n % 8, 0u);
  ASSERT_GE(n, json.size());
  EXPECT_LT(n - json.size(), 8u);
  EXPECT_EQ(bytes.substr(8, json.size()), json);
  EXPECT_EQ(bytes.substr(8 + json.size(), n - json.size()), std::string(n - json.size(), ' '));
  EXPECT_EQ(bytes.size(), 8 + n + 25);
  // Same input, same bytes.
  EXPECT_EQ(serialize_safetensors(tensors, {{"format", "pt"}, {"z", "1"}}), bytes);
}

TEST(Safetensors, ParsesReferenceLibraryLayout) {
  // What Python's safetensors.torch.save_file({"weight": torch.tensor([[1., 2.], [3., 4.]]),
  // "bias": torch.tensor([5, 6])}, metadata={"format": "pt"}) writes: compact JSON,
  // __metadata__ first, I64 before F32, header padded with spaces to a multiple of 8.
  const std::string header =
      R"({"__metadata__":{"format":"pt"},"bias":{"dtype":"I64","shape":[2],"data_offsets":[0,16]},)"
      R"("weight":{"dtype":"F32","shape":[2,2],"data_offsets":[16,32]}})";
  ASSERT_EQ(header.size(), 151u);  // padded with 1 space to 152
  std::string data(16, '\0');
  data[0] = 5;
  data[8] = 6;
  data += f32_bytes({1, 2, 3, 4});
  const SafetensorsFile f = parse_safetensors(st_file(header + " ", data), "ref");
  EXPECT_EQ(f.metadata, (std::map<std::string, std::string>{{"format", "pt"}}));
  EXPECT_TRUE(at::equal(f.tensors.at("bias"), at::tensor({5, 6}, at::kLong)));
  EXPECT_TRUE(at::equal(f.tensors.at("weight"), at::tensor({1.f, 2.f, 3.f, 4.f}).reshape({2, 2})));
  // And we write exactly those bytes.
  EXPECT_EQ(serialize_safetensors({{"weight", f.tensors.at("weight")}, {"bias", f.tensors.at("bias")}},
                                  f.metadata),
            st_file(header + " ", data));

  // The reference library's own doc example: unpadded 60-byte header, I32 [2, 2] of zeros.
  const std::string doc =
      std::string("<\0\0\0\0\0\0\0", 8) +
      R"({"test":{"dtype":"I32","shape":[2,2],"data_offsets":[0,16]}})" + std::string(16, '\0');
  const SafetensorsFile d = parse_safetensors(doc, "doc");
  EXPECT_TRUE(at::equal(d.tensors.at("test"), at::zeros({2, 2}, at::kInt)));

  // Older writers: pretty-printed, other key orders, tensors not listed in offset order.
  const std::string pretty =
      "{\n  \"b\": {\"data_offsets\": [4, 8], \"shape\": [1], \"dtype\": \"F32\"},\n"
      "  \"a\": {\"shape\": [1], \"dtype\": \"F32\", \"data_offsets\": [0, 4]}\n}";
  const SafetensorsFile p = parse_safetensors(st_file(pretty, f32_bytes({1, 2})), "old");
  EXPECT_FLOAT_EQ(p.tensors.at("a").item<float>(), 1.0f);
  EXPECT_FLOAT_EQ(p.tensors.at("b").item<float>(), 2.0f);
}

// ---------------------------------------------------------------------------------------
// Malformed files

TEST(Safetensors, RejectsTruncatedFile) {
  const std::string good = serialize_safetensors({{"a", at::tensor({1.0f, 2.0f})}});
  const std::string e = parse_error(good.substr(0, good.size() - 3));
  EXPECT_NE(e.find("model.safetensors: "), std::string::npos) << e;
  EXPECT_NE(e.find("tensor \"a\": data_offsets [0, 8] are out of range"), std::string::npos) << e;
  EXPECT_NE(e.find("truncated"), std::string::npos) << e;
  EXPECT_NE(parse_error(good.substr(0, 5)).find("too short"), std::string::npos);
  EXPECT_NE(parse_error(good.substr(0, 30)).find("header size 56 is larger than the rest"),
            std::string::npos);
}

TEST(Safetensors, RejectsHeaderSizeLargerThanFile) {
  std::string bytes = st_file("{}", "");
  bytes[0] = 100;
  EXPECT_NE(parse_error(bytes).find("header size 100 is larger than the rest of the file (2 bytes"),
            std::string::npos)
      << parse_error(bytes);
  bytes[7] = 0x7f;  // huge
  EXPECT_NE(parse_error(bytes).find("exceeds the 100 MB limit"), std::string::npos);
}

TEST(Safetensors, RejectsInvalidJson) {
  EXPECT_NE(parse_error(st_file(R"({"a": {"dtype": "F32",)", "")).find("the header is not valid JSON"),
            std::string::npos);
  EXPECT_NE(parse_error(st_file("[1, 2]", "")).find("not a JSON object"), std::string::npos);
  EXPECT_NE(parse_error(st_file("{\"\xff\": 1}", "")).find("not valid JSON"), std::string::npos);
  const std::string e = parse_error(st_file(R"({"a": [0, 4]})", f32_bytes({1})));
  EXPECT_NE(e.find("tensor \"a\": expected an object"), std::string::npos) << e;
  EXPECT_NE(parse_error(st_file(R"({"a":{"dtype":"F32","shape":[1]}})", f32_bytes({1})))
                .find("tensor \"a\": missing field \"data_offsets\""),
            std::string::npos);
  EXPECT_NE(parse_error(st_file(R"({"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}})",
                                f32_bytes({1})))
                .find("each dimension must be a non-negative integer, not -1"),
            std::string::npos);
  EXPECT_NE(parse_error(st_file(R"({"__metadata__":{"k":1}})", ""))
                .find("__metadata__ value of \"k\" must be a string"),
            std::string::npos);
}

TEST(Safetensors, RejectsOffsetsOutOfRange) {
  const std::string e = parse_error(
      st_file(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})", f32_bytes({1, 2})));
  EXPECT_NE(e.find("tensor \"a\": data_offsets [4, 12] are out of range: the data buffer has only 8 bytes"),
            std::string::npos)
      << e;
  EXPECT_NE(parse_error(st_file(R"({"a":{"dtype":"F32","shape":[0],"data_offsets":[8,4]}})",
                                f32_bytes({1, 2})))
                .find("end before they begin"),
            std::string::npos);
}

TEST(Safetensors, RejectsOverlapsGapsAndTrailingBytes) {
  const std::string overlap = parse_error(st_file(
      R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})",
      f32_bytes({1, 2})));
  EXPECT_NE(overlap.find("tensors \"a\" and \"b\" overlap in the data buffer (bytes 4 to 8)"),
            std::string::npos)
      << overlap;
  const std::string gap = parse_error(st_file(
      R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}})",
      f32_bytes({1, 2, 3})));
  EXPECT_NE(gap.find("bytes 4 to 8 of the data buffer belong to no tensor"), std::string::npos) << gap;
  const std::string trailing = parse_error(
      st_file(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})", f32_bytes({1, 2})));
  EXPECT_NE(trailing.find("the data buffer has 8 bytes but the tensors cover only 4"),
            std::string::npos)
      << trailing;
}

TEST(Safetensors, RejectsSizeShapeMismatch) {
  const std::string e = parse_error(st_file(
      R"({"a":{"dtype":"F32","shape":[2, 3],"data_offsets":[0,8]}})", f32_bytes({1, 2})));
  EXPECT_NE(e.find("tensor \"a\": shape [2, 3] of F32 needs 24 bytes but data_offsets [0, 8] span 8"),
            std::string::npos)
      << e;
  const std::string big = parse_error(st_file(
      R"({"a":{"dtype":"F64","shape":[4294967296, 4294967296],"data_offsets":[0,8]}})",
      f32_bytes({1, 2})));
  EXPECT_NE(big.find("needs more than 2^64 bytes"), std::string::npos) << big;
}

TEST(Safetensors, RejectsUnknownDtype) {
  const std::string e = parse_error(
      st_file(R"({"a":{"dtype":"F99","shape":[1],"data_offsets":[0,4]}})", f32_bytes({1})));
  EXPECT_NE(e.find("tensor \"a\": unknown dtype \"F99\""), std::string::npos) << e;
  const std::string u16 = parse_error(
      st_file(R"({"a":{"dtype":"U16","shape":[2],"data_offsets":[0,4]}})", f32_bytes({1})));
  EXPECT_NE(u16.find("dtype U16 is valid safetensors but not supported"), std::string::npos) << u16;
}

TEST(Safetensors, RejectsDuplicateNames) {
  const std::string e = parse_error(st_file(
      R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})",
      f32_bytes({1, 2})));
  EXPECT_NE(e.find("tensor name \"a\" appears twice"), std::string::npos) << e;
  const std::string inner = parse_error(st_file(
      R"({"a":{"dtype":"F32","dtype":"F32","shape":[1],"data_offsets":[0,4]}})", f32_bytes({1})));
  EXPECT_NE(inner.find("key \"dtype\" appears twice"), std::string::npos) << inner;
}

TEST(Safetensors, RejectsInvalidBoolBytes) {
  const std::string e = parse_error(
      st_file(R"({"m":{"dtype":"BOOL","shape":[2],"data_offsets":[0,2]}})", std::string("\x01\x02", 2)));
  EXPECT_NE(e.find("tensor \"m\": BOOL byte 1 is 2 (must be 0 or 1)"), std::string::npos) << e;
}

TEST(Safetensors, LoadNamesTheFile) {
  test::TempDir tmp;
  try {
    load_safetensors(tmp / "missing.safetensors");
    FAIL() << "expected an error";
  } catch (const FileError& e) {
    EXPECT_EQ(e.path(), tmp / "missing.safetensors");
    EXPECT_NE(std::string(e.what()).find("cannot open"), std::string::npos);
  }
  const std::string good = serialize_safetensors({{"a", at::tensor({1.0f, 2.0f})}});
  write_file_atomic(tmp / "cut.safetensors", good.substr(0, good.size() - 1));
  try {
    load_safetensors(tmp / "cut.safetensors");
    FAIL() << "expected an error";
  } catch (const FileError& e) {
    EXPECT_EQ(std::string(e.what()).rfind((tmp / "cut.safetensors").string() + ": ", 0), 0u) << e.what();
    EXPECT_NE(std::string(e.what()).find("truncated"), std::string::npos) << e.what();
  }
}

TEST(Safetensors, SerializeRejectsWhatItCannotWrite) {
  EXPECT_THROW(serialize_safetensors({{"x", at::Tensor()}}), Error);
  EXPECT_THROW(serialize_safetensors({{"__metadata__", at::zeros({1})}}), Error);
  try {
    serialize_safetensors({{"c", at::zeros({2}, at::kComplexFloat)}});
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("tensor \"c\" has dtype ComplexFloat"), std::string::npos)
        << e.what();
  }
  EXPECT_THROW(serialize_safetensors({{"bad\xff", at::zeros({1})}}), Error);
}

// ---------------------------------------------------------------------------------------
// Saving

TEST(Safetensors, AtomicSaveLeavesNoTemporaryFile) {
  test::TempDir tmp;
  const fs::path path = tmp / "w.safetensors";
  save_safetensors(path, {{"a", at::ones({3})}});
  save_safetensors(path, {{"b", at::zeros({2})}});  // replaces the previous file
  EXPECT_EQ(test::count_entries(tmp.path()), 1u);
  const SafetensorsFile f = load_safetensors(path);
  EXPECT_EQ(f.tensors.size(), 1u);
  EXPECT_TRUE(f.tensors.count("b"));

  // A failed save (missing folder) leaves nothing behind and names the file.
  const fs::path bad = tmp / "no-such-dir" / "w.safetensors";
  try {
    save_safetensors(bad, {{"a", at::ones({3})}});
    FAIL() << "expected an error";
  } catch (const FileError& e) {
    EXPECT_EQ(e.path(), bad);
  }
  EXPECT_EQ(test::count_entries(tmp.path()), 1u);
  // A failed serialization writes nothing either.
  EXPECT_THROW(save_safetensors(tmp / "x.safetensors", {{"x", at::Tensor()}}), Error);
  EXPECT_EQ(test::count_entries(tmp.path()), 1u);
}

// ---------------------------------------------------------------------------------------
// load_into

namespace {
std::map<std::string, at::Tensor> params_of(torch::nn::Module& m) {
  std::map<std::string, at::Tensor> out;
  for (const auto& p : m.named_parameters()) out[p.key()] = p.value();
  return out;
}
std::string load_into_error(const std::map<std::string, at::Tensor>& dest, const SafetensorsFile& src,
                            bool strict = true) {
  try {
    load_into(dest, src, "ckpt.safetensors", strict);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}
}  // namespace

TEST(SafetensorsLoadInto, CopiesIntoModuleParameters) {
  torch::nn::Linear src_model(3, 2), dst_model(3, 2);
  const SafetensorsFile f =
      parse_safetensors(serialize_safetensors(params_of(*src_model)), "mem");
  load_into(params_of(*dst_model), f, "mem");
  EXPECT_TRUE(at::equal(dst_model->weight, src_model->weight));
  EXPECT_TRUE(at::equal(dst_model->bias, src_model->bias));
  EXPECT_TRUE(dst_model->weight.requires_grad());
}

TEST(SafetensorsLoadInto, WrongShapeNamesTensorAndBothShapes) {
  torch::nn::Linear model(3, 2);
  const at::Tensor before = model->weight.clone(), bias_before = model->bias.clone();
  SafetensorsFile f;
  f.tensors["weight"] = at::zeros({3, 2});
  f.tensors["bias"] = at::zeros({2});
  const std::string e = load_into_error(params_of(*model), f);
  EXPECT_EQ(e.rfind("ckpt.safetensors: ", 0), 0u) << e;
  EXPECT_NE(e.find("weight: file has shape [3, 2], model expects [2, 3]"), std::string::npos) << e;
  EXPECT_EQ(e.find("bias"), std::string::npos) << e;
  EXPECT_TRUE(at::equal(model->weight, before)) << "nothing is copied when anything is wrong";
  EXPECT_TRUE(at::equal(model->bias, bias_before));

  f.tensors["weight"] = at::zeros({2, 3}, at::kDouble);
  const std::string d = load_into_error(params_of(*model), f);
  EXPECT_NE(d.find("weight: file has dtype F64, model expects F32"), std::string::npos) << d;
}

TEST(SafetensorsLoadInto, MissingAndUnexpectedNames) {
  torch::nn::Linear model(3, 2);
  SafetensorsFile f;
  f.tensors["weight"] = at::zeros({2, 3});
  f.tensors["decoder.w"] = at::zeros({1});
  f.tensors["decoder.b"] = at::zeros({1});
  const std::string e = load_into_error(params_of(*model), f);
  EXPECT_NE(e.find("missing from the file (1): bias"), std::string::npos) << e;
  EXPECT_NE(e.find("unexpected in the file (2): decoder.b, decoder.w"), std::string::npos) << e;

  // Not strict: unexpected names are ignored, missing ones are still an error.
  const std::string ns = load_into_error(params_of(*model), f, /*strict=*/false);
  EXPECT_NE(ns.find("missing from the file (1): bias"), std::string::npos) << ns;
  EXPECT_EQ(ns.find("unexpected"), std::string::npos) << ns;
  f.tensors["bias"] = at::ones({2});
  EXPECT_EQ(load_into_error(params_of(*model), f, /*strict=*/false), "");
  EXPECT_TRUE(at::equal(model->bias, at::ones({2})));
  EXPECT_TRUE(at::equal(model->weight, at::zeros({2, 3})));
  EXPECT_NE(load_into_error(params_of(*model), f, /*strict=*/true).find("unexpected"), std::string::npos);
}
