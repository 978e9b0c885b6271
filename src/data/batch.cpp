#include "data/batch.h"

#include "core/error.h"
#include "data/normalize.h"

namespace fratmae::data {

namespace {

constexpr double kDecode = 1.0 / kInt16Scale;

std::array<int64_t, 3> shape_of(const at::Tensor& t) { return {t.size(0), t.size(1), t.size(2)}; }

}  // namespace

Batch gather_resident(const Cache& cache, const std::vector<int64_t>& cases, const std::vector<SampleDraw>& draws) {
  if (!cache.resident()) throw Error("gather_resident: the cache is not resident (Cache::to_device)");
  if (draws.size() != cases.size() || cases.empty()) throw Error("gather_resident: one draw per case is needed");
  const bool with_seg = cache.wb_seg_all().defined();
  const int64_t B = static_cast<int64_t>(cases.size());
  const CropWindow& w0 = draws[0].window;
  const int64_t h = w0.size[0], w = w0.size[1], d = w0.size[2];
  // Index tensors built on the CPU, then one copy to the device each.
  at::Tensor ih = at::empty({B, h}, at::kLong), iw = at::empty({B, w}, at::kLong), id = at::empty({B, d}, at::kLong);
  at::Tensor flip = at::empty({B}, at::kBool);
  at::Tensor aff = at::empty({4, B}, at::kFloat);  // ct scale (with the int16 decode), ct shift, pet ...
  for (int64_t b = 0; b < B; ++b) {
    const SampleDraw& s = draws[static_cast<size_t>(b)];
    at::Tensor* idx[3] = {&ih, &iw, &id};
    for (int a = 0; a < 3; ++a)
      (*idx[a])[b].copy_(at::arange(s.window.size[a], at::kLong) * s.window.step[a] + s.window.start[a]);
    flip[b] = s.flip_w;
    aff[0][b] = kDecode * s.ct_scale;
    aff[1][b] = s.ct_shift;
    aff[2][b] = kDecode * s.pet_scale;
    aff[3][b] = s.pet_shift;
  }
  const at::Device dev = cache.device();
  const bool nb = dev.is_cuda();
  const at::Tensor c = at::tensor(cases, at::kLong).to(dev, nb);
  const at::Tensor idx_n = c.view({B, 1, 1, 1}), idx_h = ih.to(dev, nb).view({B, h, 1, 1}),
                   idx_w = iw.to(dev, nb).view({B, 1, w, 1}), idx_d = id.to(dev, nb).view({B, 1, 1, d});
  const at::Tensor fl = flip.to(dev, nb).view({B, 1, 1, 1});
  const at::Tensor af = aff.to(dev, nb);
  // Coronal stacks keep W and D whole: gather whole rows (B, h) of (N, H, W, D), far cheaper
  // than indexing every voxel.
  bool whole_wd = true;
  for (const SampleDraw& s : draws)
    whole_wd = whole_wd && s.window.start[1] == 0 && s.window.step[1] == 1 && s.window.size[1] == cache.wb_ct_all().size(2) &&
               s.window.start[2] == 0 && s.window.step[2] == 1 && s.window.size[2] == cache.wb_ct_all().size(3);
  auto gather = [&](const at::Tensor& all) {
    return whole_wd ? all.index({c.view({B, 1}), idx_h.view({B, h})})  // (B, h, W, D)
                    : all.index({idx_n, idx_h, idx_w, idx_d});         // (B, h, w, d)
  };
  auto flip_w = [&](const at::Tensor& x) { return at::where(fl, x.flip({2}), x); };
  Batch batch;
  auto affine = [&](const at::Tensor& q, int i) {  // q * a + b per sample, as the CPU path
    return q.to(at::kFloat).mul_(af[i].view({B, 1, 1, 1})).add_(af[i + 1].view({B, 1, 1, 1}));
  };
  batch.ct = flip_w(affine(gather(cache.wb_ct_all()), 0)).unsqueeze(1);    // (B, 1, h, w, d)
  batch.pet = flip_w(affine(gather(cache.wb_pet_all()), 2)).unsqueeze(1);  // (B, 1, h, w, d)
  if (with_seg) batch.seg = flip_w(gather(cache.wb_seg_all())).unsqueeze(1);             // (B, 1, h, w, d)
  batch.case_index = c;
  batch.text_ids = cache.text_ids().index_select(0, c);        // (B, 77)
  batch.stage_label = cache.stage_labels().index_select(0, c);  // (B)
  return batch;
}

Batch Batch::rows(int64_t begin, int64_t n) const {
  Batch r = *this;
  for (at::Tensor* t : {&r.ct, &r.pet, &r.seg, &r.text_ids, &r.stage_label, &r.case_index})
    if (t->defined()) *t = t->narrow(0, begin, n);
  return r;
}

Batch Batch::to(const at::Device& device, bool non_blocking) const {
  Batch b = *this;
  for (at::Tensor* t : {&b.ct, &b.pet, &b.seg, &b.text_ids, &b.stage_label, &b.case_index})
    if (t->defined()) *t = t->to(device, non_blocking);
  return b;
}

void AugmentConfig::validate() const {
  if (flip_w_prob < 0 || flip_w_prob > 1) throw Error("augmentation: flip probability must be in [0, 1]");
  if (intensity_scale < 0 || intensity_scale >= 1) throw Error("augmentation: intensity scale must be in [0, 1)");
  if (intensity_shift < 0) throw Error("augmentation: intensity shift must be >= 0");
}

SampleDraw draw_sample(const CropConfig& crop, const AugmentConfig& aug, const std::array<int64_t, 3>& shape,
                       const at::Tensor& lesion_voxels, uint64_t seed) {
  Rng rng(seed);
  SampleDraw s;
  s.window = choose_window(crop, shape, lesion_voxels, rng);
  if (aug.enabled) {
    s.flip_w = rng.bernoulli(aug.flip_w_prob);
    s.ct_scale = rng.uniform(1 - aug.intensity_scale, 1 + aug.intensity_scale);
    s.ct_shift = rng.uniform(-aug.intensity_shift, aug.intensity_shift);
    s.pet_scale = rng.uniform(1 - aug.intensity_scale, 1 + aug.intensity_scale);
    s.pet_shift = rng.uniform(-aug.intensity_shift, aug.intensity_shift);
  }
  return s;
}

at::Tensor TensorPool::empty(at::IntArrayRef shape, const at::TensorOptions& options) {
  if (pinned_) return at::empty(shape, options.pinned_memory(true));
  std::lock_guard<std::mutex> lock(mutex_);
  for (const at::Tensor& t : buffers_)
    // Only the pool holds it: no other handle to this tensor, and no view of its storage.
    if (t.use_count() == 1 && t.storage().use_count() == 1 && t.sizes().equals(shape) && t.scalar_type() == options.dtype() &&
        t.device() == options.device())
      return t;  // the copy returned makes use_count 2 before the lock is released
  at::Tensor t = at::empty(shape, options);
  if (buffers_.size() < max_) buffers_.push_back(t);
  return t;
}

Batch make_batch(const Cache& cache, const std::vector<int64_t>& cases, const CropConfig& crop,
                 const AugmentConfig& aug, const std::vector<uint64_t>& seeds, TensorPool* pool) {
  if (cases.empty()) throw Error("make_batch: no cases");
  if (seeds.size() != cases.size()) throw Error("make_batch: one seed per case is needed");
  const int64_t B = static_cast<int64_t>(cases.size());
  const bool native = crop.kind == CropKind::kNative;
  bool with_seg = true;
  std::vector<SampleDraw> draws;
  for (int64_t b = 0; b < B; ++b) {
    const CachedCase& c = cache.at(cases[static_cast<size_t>(b)]);
    if (native && !c.nat_ct.defined())
      throw Error("cache " + cache.dir().string() + ", case " + c.id +
                  ": no native-resolution copy for segmentation crops; preprocess without --no-native "
                  "(or keep the native copies when moving the cache to the device)");
    const at::Tensor& ref = native ? c.nat_ct : c.wb_ct;
    with_seg = with_seg && (native ? c.nat_seg.defined() : c.wb_seg.defined());
    draws.push_back(draw_sample(crop, aug, shape_of(ref), c.lesion_voxels, seeds[static_cast<size_t>(b)]));
  }

  Batch batch;
  if (!native && cache.resident() && !cache.device().is_cpu()) {
    // On a GPU: one gather per modality. (On the CPU the per-sample path below is faster.)
    batch = gather_resident(cache, cases, draws);
  } else {
    const auto& sz = draws[0].window.size;
    const auto opt = at::TensorOptions().device(cache.device());
    auto empty = [&](at::ScalarType t) {
      const std::vector<int64_t> shape{B, 1, sz[0], sz[1], sz[2]};
      return pool && cache.device().is_cpu() ? pool->empty(shape, opt.dtype(t)) : at::empty(shape, opt.dtype(t));
    };
    batch.ct = empty(at::kFloat);                   // (B, 1, h, w, d)
    batch.pet = empty(at::kFloat);                  // (B, 1, h, w, d)
    if (with_seg) batch.seg = empty(at::kByte);     // (B, 1, h, w, d)
    for (int64_t b = 0; b < B; ++b) {
      const CachedCase& c = cache.at(cases[static_cast<size_t>(b)]);
      const SampleDraw& s = draws[static_cast<size_t>(b)];
      at::Tensor ct = batch.ct[b][0], pet = batch.pet[b][0];  // (h, w, d) views
      const at::Tensor& src_ct = native ? c.nat_ct : c.wb_ct;
      const at::Tensor& src_pet = native ? c.nat_pet : c.wb_pet;
      const at::Tensor& src_seg = native ? c.nat_seg : c.wb_seg;
      // One pass per modality on the CPU: decode, augment, mirror; padding: air for CT, 0 for PET.
      const bool fast =
          extract_window_affine_cpu(src_ct, s.window, ct, kDecode * s.ct_scale, s.ct_shift, -1.0, s.flip_w) &&
          extract_window_affine_cpu(src_pet, s.window, pet, kDecode * s.pet_scale, s.pet_shift, 0.0, s.flip_w) &&
          (!with_seg || extract_window_affine_cpu(src_seg, s.window, batch.seg[b][0], 1.0, 0.0, 0.0, s.flip_w));
      if (fast) continue;
      // Other devices: the same arithmetic with tensor ops.
      extract_window(src_ct, s.window, ct, kDecode * s.ct_scale, -1.0, s.ct_shift);
      extract_window(src_pet, s.window, pet, kDecode * s.pet_scale, 0.0, s.pet_shift);
      if (with_seg) extract_window(src_seg, s.window, batch.seg[b][0], 1.0, 0.0);
      if (s.flip_w) {
        ct.copy_(ct.flip({1}));
        pet.copy_(pet.flip({1}));
        if (with_seg) batch.seg[b][0].copy_(batch.seg[b][0].flip({1}));
      }
    }
    batch.case_index = at::tensor(cases, at::kLong).to(cache.device());
  }
  batch.text_ids = cache.text_ids().index_select(0, batch.case_index);        // (B, 77)
  batch.stage_label = cache.stage_labels().index_select(0, batch.case_index);  // (B)
  return batch;
}

}  // namespace fratmae::data
