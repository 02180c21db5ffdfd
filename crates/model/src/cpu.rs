//! Inference on the CPU without burn, for the flex backend: the tagger's decoder ([`CpuDecoder`])
//! here, MTCNN's three networks in `faketagger-faces`, from the same kernel.
//!
//! burn's general convolution (im2col and a matrix product per tile) runs one image of a batch
//! after the other on one core, and allocates every intermediate tensor afresh. Here each
//! convolution keeps a tile of two SIMD vectors of output pixels for four output channels in
//! registers and adds each input row into them (`pulp` picks AVX2/FMA or the scalar path at run
//! time), with the (leaky or parametric) ReLU fused; a batch runs one image per task on every
//! core, a single image in bands of rows.
//!
//! The same weights (taken from the burn modules at load) and the same arithmetic up to the
//! order of summation: the tests compare each network with its burn twin.

use burn::module::Param;
use burn::nn::conv::Conv2d;
use burn::nn::{Linear, PaddingConfig2d};
use burn::tensor::Tensor;
use pulp::{Arch, Simd, WithSimd};
use rayon::prelude::*;

/// Rows are padded to a multiple of this (two AVX-512 vectors, the widest tile) plus one more,
/// so that every tile is whole: no tail loop, and the padding columns are never read as output.
const PAD: usize = 32;
/// Output channels that share a tile's input loads: 12 accumulators of the 16 AVX2 registers
/// (4 left the FMAs waiting on each other, 8 spilled; 6 took 6–8% less CPU time than 4 for a
/// 1080p face detection and an untagged decode's crop search).
const BLOCK: usize = 6;
/// Output rows per parallel task.
const BAND: usize = 4;

fn padded(width: usize) -> usize {
    width.next_multiple_of(PAD) + PAD
}

/// Largest total of buffers a thread keeps for its next maps ([`zeroed`]): what the first
/// pyramid level of a detection at its largest size (1920 px) leaves, about 50 MB.
const SPARE_MAX_BYTES: usize = 64 << 20;
/// Buffers under this many values go back to the allocator: the cheap ones to get afresh.
const SPARE_MIN_VALUES: usize = 16 << 10;

thread_local! {
    /// The buffers of this thread's dropped maps, for its next ones. A network allocates the
    /// same sizes again and again (a detector's pyramid levels, call after call) and memory the
    /// allocator gets afresh from the system costs a page fault every 4 KB: a 1080p detection
    /// made 42,000 of them, a quarter of its time in the kernel.
    static SPARE: std::cell::RefCell<Vec<Vec<f32>>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// `len` zeros, in the smallest spare buffer of this thread that holds them, else fresh.
fn zeroed(len: usize) -> Vec<f32> {
    let spare = SPARE.with_borrow_mut(|spare| {
        let best = (0..spare.len())
            .filter(|&i| spare[i].capacity() >= len)
            .min_by_key(|&i| spare[i].capacity())?;
        Some(spare.swap_remove(best))
    });
    match spare {
        Some(mut buffer) => {
            buffer.clear();
            buffer.resize(len, 0.0);
            buffer
        }
        None => vec![0.0; len],
    }
}

/// Keeps `buffer` for this thread's next maps, within [`SPARE_MAX_BYTES`] (the smallest kept
/// make room for it first).
fn recycle(buffer: Vec<f32>) {
    let values = buffer.capacity();
    if !(SPARE_MIN_VALUES..=SPARE_MAX_BYTES / 4).contains(&values) {
        return;
    }
    SPARE.with_borrow_mut(|spare| {
        let mut kept: usize = spare.iter().map(Vec::capacity).sum();
        spare.sort_by_key(|b| std::cmp::Reverse(b.capacity()));
        while kept + values > SPARE_MAX_BYTES / 4 {
            match spare.pop() {
                Some(smallest) => kept -= smallest.capacity(),
                None => return,
            }
        }
        spare.push(buffer);
    });
}

/// Feature maps stored row by row, each row holding every channel (`[rows][channels][stride]`),
/// so that a band of rows is one contiguous slice. `border` rows and columns of zeros surround
/// the map: the zero padding of the convolution that reads it.
#[derive(Debug, Clone)]
pub struct Maps {
    data: Vec<f32>,
    channels: usize,
    height: usize,
    width: usize,
    stride: usize,
    border: usize,
}

impl Maps {
    /// Zeros, `channels` maps of `height` × `width` with `border` zeros around them.
    pub fn zeros(channels: usize, height: usize, width: usize, border: usize) -> Self {
        let stride = padded(width + 2 * border);
        Self {
            data: zeroed((height + 2 * border) * channels * stride),
            channels,
            height,
            width,
            stride,
            border,
        }
    }

    /// Rows `rows` of the images in `planar`, each `[C][H][W]` planar values (a pyramid level, a
    /// batch of crops, as a resampling writes them), one after another, laid side by side in one
    /// map: image `k`'s columns start at `k · width`.
    pub fn from_planar(
        planar: &[f32],
        channels: usize,
        height: usize,
        width: usize,
        rows: std::ops::Range<usize>,
    ) -> Self {
        let per_image = (channels * height * width).max(1);
        let images = planar.len() / per_image;
        let mut maps = Self::zeros(channels, rows.len(), images * width, 0);
        maps.for_each_row_mut(false, |y, row, at| {
            for c in 0..channels {
                for (k, image) in planar.chunks_exact(per_image).enumerate() {
                    let source = &image[(c * height + rows.start + y) * width..][..width];
                    row[at(c) + k * width..][..width].copy_from_slice(source);
                }
            }
        });
        maps
    }

    /// Channels.
    #[inline]
    pub fn channels(&self) -> usize {
        self.channels
    }

    /// Rows of each map.
    #[inline]
    pub fn height(&self) -> usize {
        self.height
    }

    /// Columns of each map.
    #[inline]
    pub fn width(&self) -> usize {
        self.width
    }

    /// Channel `c` of map row `y`, from column 0 (its padding after it).
    #[inline]
    pub fn row(&self, y: usize, c: usize) -> &[f32] {
        let start = ((y + self.border) * self.channels + c) * self.stride + self.border;
        &self.data[start..start + self.stride - self.border]
    }

    fn row_len(&self) -> usize {
        self.channels * self.stride
    }

    /// `work(y, row, at)` for every map row `y`, in parallel or in one go: `row` holds every
    /// channel of the row, channel `c`'s column 0 at `row[at(c)]`.
    pub fn for_each_row_mut(
        &mut self,
        parallel: bool,
        work: impl Fn(usize, &mut [f32], &(dyn Fn(usize) -> usize + Sync)) + Sync + Send,
    ) {
        self.for_each_row_mut_in(0..self.height, parallel, work);
    }

    /// [`Maps::for_each_row_mut`] for the map rows `rows` only.
    pub fn for_each_row_mut_in(
        &mut self,
        rows: std::ops::Range<usize>,
        parallel: bool,
        work: impl Fn(usize, &mut [f32], &(dyn Fn(usize) -> usize + Sync)) + Sync + Send,
    ) {
        let (row_len, stride, border) = (self.row_len(), self.stride, self.border);
        let at = move |c: usize| c * stride + border;
        let first = rows.start;
        let rows = &mut self.data[(border + first) * row_len..(border + rows.end) * row_len];
        for_each_chunk(rows, row_len, parallel, |(y, row)| {
            work(first + y, row, &at)
        });
    }

    /// The same maps with `border` zeros around them.
    fn with_border(&self, border: usize) -> Maps {
        let mut out = Maps::zeros(self.channels, self.height, self.width, border);
        let width = self.width;
        out.for_each_row_mut(false, |y, row, at| {
            for c in 0..self.channels {
                row[at(c)..at(c) + width].copy_from_slice(&self.row(y, c)[..width]);
            }
        });
        out
    }

    /// Adds `other`, maps of the same shape, value by value (a residual connection).
    fn add(&mut self, other: &Maps) {
        debug_assert_eq!(
            (self.channels, self.height, self.width, self.border),
            (other.channels, other.height, other.width, other.border)
        );
        for (a, b) in self.data.iter_mut().zip(&other.data) {
            *a += b;
        }
    }
}

/// `work(index, chunk)` over `data` in chunks of `size`: in parallel, or in one go (for small
/// work that is itself one of many tasks).
pub fn for_each_chunk(
    data: &mut [f32],
    size: usize,
    parallel: bool,
    work: impl Fn((usize, &mut [f32])) + Sync + Send,
) {
    if parallel {
        data.par_chunks_mut(size).enumerate().for_each(work);
    } else {
        data.chunks_mut(size).enumerate().for_each(work);
    }
}

/// A square convolution with its bias, stride, zero padding and (optionally) ReLU slopes: per
/// channel (PReLU) or one for all (leaky ReLU).
#[derive(Debug, Clone)]
pub struct ConvLayer {
    /// The weights by block of output channels as the tiles take them: for the block of
    /// channels `o .. o + B` ([`blocks`]), from `o · taps` on, tap after tap (input channel,
    /// row, column), each tap's `B` weights side by side.
    packed: Vec<f32>,
    bias: Vec<f32>,
    slopes: Option<Vec<f32>>,
    channels_in: usize,
    channels_out: usize,
    kernel: usize,
    stride: usize,
    padding: usize,
}

impl ConvLayer {
    /// From PyTorch's layout: `weights` `[out][in][kernel][kernel]`; stride 1, no padding.
    pub fn new(
        weights: &[f32],
        bias: Vec<f32>,
        slopes: Option<Vec<f32>>,
        [channels_out, channels_in, kernel]: [usize; 3],
    ) -> Result<Self, String> {
        let (i, o, k) = (channels_in, channels_out, kernel);
        let taps = i * k * k;
        let ok = k > 0
            && weights.len() == o * taps
            && bias.len() == o
            && slopes.as_ref().is_none_or(|s| s.len() == o);
        if !ok {
            return Err(format!("a {i}→{o} {k}×{k} layer with mis-sized weights"));
        }
        let mut packed = Vec::with_capacity(weights.len());
        for (out, size) in blocks(o) {
            for tap in 0..taps {
                packed.extend((out..out + size).map(|c| weights[c * taps + tap]));
            }
        }
        Ok(Self {
            packed,
            bias,
            slopes,
            channels_in,
            channels_out,
            kernel,
            stride: 1,
            padding: 0,
        })
    }

    /// A burn convolution (square, ungrouped, undilated, symmetric padding) and its slopes.
    pub fn from_burn(conv: &Conv2d, slopes: Option<Vec<f32>>) -> Result<Self, String> {
        Self::from_burn_stacked(&[conv], slopes)
    }

    /// Burn convolutions of the same input and shape as one layer, their outputs one after the
    /// other (two heads read in one pass).
    pub fn from_burn_stacked(convs: &[&Conv2d], slopes: Option<Vec<f32>>) -> Result<Self, String> {
        let Some(first) = convs.first() else {
            return Err("no convolution".into());
        };
        let [_, channels_in, kernel, kernel_x] = first.weight.val().dims();
        let padding = match first.padding {
            PaddingConfig2d::Valid => 0,
            PaddingConfig2d::Explicit(t, l, b, r) if [l, b, r] == [t; 3] => t,
            ref other => return Err(format!("unsupported padding {other:?}")),
        };
        let [stride, stride_x] = first.stride;
        if kernel != kernel_x || stride != stride_x || stride == 0 || padding >= kernel {
            return Err(format!(
                "not a square convolution: kernel {kernel}×{kernel_x}, stride {:?}",
                first.stride
            ));
        }
        let (mut weights, mut bias) = (Vec::new(), Vec::new());
        for conv in convs {
            let [outputs, inputs, ..] = conv.weight.val().dims();
            let same = inputs == channels_in
                && conv.kernel_size == first.kernel_size
                && conv.stride == first.stride
                && conv.padding == first.padding;
            if !same || conv.groups != 1 || conv.dilation != [1, 1] {
                return Err("stacked convolutions of different shapes, grouped or dilated".into());
            }
            weights.extend(floats(conv.weight.val())?);
            bias.extend(bias_or_zeros(&conv.bias, outputs)?);
        }
        let outputs = bias.len();
        let mut layer = Self::new(&weights, bias, slopes, [outputs, channels_in, kernel])?;
        layer.stride = stride;
        layer.padding = padding;
        Ok(layer)
    }

    /// (input channels, output channels, kernel side, stride, padding).
    pub fn shape(&self) -> (usize, usize, usize, usize, usize) {
        (
            self.channels_in,
            self.channels_out,
            self.kernel,
            self.stride,
            self.padding,
        )
    }

    /// The output side of an input side.
    fn output_side(&self, side: usize) -> usize {
        (side + 2 * self.padding)
            .checked_sub(self.kernel)
            .map_or(0, |span| span / self.stride + 1)
    }

    /// The layer over `input`, every output row, the output with `border` zeros around it (the
    /// next layer's padding): in parallel bands of rows, or in one go (for an input that is
    /// itself one of many tasks).
    pub fn forward(&self, input: &Maps, border: usize, arch: Arch, parallel: bool) -> Maps {
        let bordered;
        let input = if input.border < self.padding {
            bordered = input.with_border(self.padding);
            &bordered
        } else {
            input
        };
        let mut output = Maps::zeros(
            self.channels_out,
            self.output_side(input.height),
            self.output_side(input.width),
            border,
        );
        let phased;
        let source = if self.stride == 1 {
            Source {
                data: &input.data,
                channels: input.channels,
                phases: 1,
                segment: input.stride,
            }
        } else {
            phased = Phased::of(input, self.stride);
            phased.source(input.channels)
        };
        // where tap column kx of output column 0 lies in its row block ([`Source::block`])
        let shift = input.border - self.padding;
        let columns: Vec<usize> = (0..self.kernel)
            .map(|kx| {
                let t = kx + shift;
                (t % self.stride) * source.segment + t / self.stride
            })
            .collect();
        let (width, stride, border_out) = (output.width, output.stride, output.border);
        let band = |(index, rows): (usize, &mut [f32])| {
            arch.dispatch(ConvRows {
                layer: self,
                source: &source,
                columns: &columns,
                shift,
                first_row: index * BAND,
                rows,
                width,
                stride,
                border: border_out,
            });
        };
        let row_len = output.row_len();
        let (first, rows) = (border * row_len, output.height * row_len);
        for_each_chunk(
            &mut output.data[first..first + rows],
            row_len * BAND,
            parallel,
            band,
        );
        output
    }
}

/// A layer's input as its tiles read it: row blocks of `phases` segments per channel, segment
/// `φ` holding the (bordered) columns `φ, φ + phases, …`, so that a strided convolution reads
/// consecutive values. With stride 1, the maps themselves.
struct Source<'a> {
    data: &'a [f32],
    channels: usize,
    phases: usize,
    segment: usize,
}

impl Source<'_> {
    /// Data row `row`'s block of channel `c`: its `phases` segments.
    #[inline(always)]
    fn block(&self, row: usize, c: usize) -> &[f32] {
        let len = self.phases * self.segment;
        let start = (row * self.channels + c) * len;
        &self.data[start..start + len]
    }
}

impl Drop for Maps {
    fn drop(&mut self) {
        recycle(std::mem::take(&mut self.data));
    }
}

impl Drop for Phased {
    fn drop(&mut self) {
        recycle(std::mem::take(&mut self.data));
    }
}

/// The input of a strided convolution with its columns split by phase ([`Source`]).
struct Phased {
    data: Vec<f32>,
    phases: usize,
    segment: usize,
}

impl Phased {
    fn of(input: &Maps, phases: usize) -> Self {
        let segment = padded(input.stride.div_ceil(phases));
        let rows = input.height + 2 * input.border;
        let mut data = zeroed(rows * input.channels * phases * segment);
        for (block, source) in data
            .chunks_exact_mut(phases * segment)
            .zip(input.data.chunks_exact(input.stride))
        {
            for (phase, segment) in block.chunks_exact_mut(segment).enumerate() {
                for (d, s) in segment
                    .iter_mut()
                    .zip(source.iter().skip(phase).step_by(phases))
                {
                    *d = *s;
                }
            }
        }
        Self {
            data,
            phases,
            segment,
        }
    }

    fn source(&self, channels: usize) -> Source<'_> {
        Source {
            data: &self.data,
            channels,
            phases: self.phases,
            segment: self.segment,
        }
    }
}

/// One band of a convolution's output rows, for `pulp` to run with the CPU's vector width.
struct ConvRows<'a> {
    layer: &'a ConvLayer,
    source: &'a Source<'a>,
    /// Each kernel column's offset in a row block, for output column 0.
    columns: &'a [usize],
    /// Input border minus the layer's padding: output row `y`'s tap row `ky` is data row
    /// `y · stride + ky + shift`.
    shift: usize,
    first_row: usize,
    rows: &'a mut [f32],
    width: usize,
    stride: usize,
    border: usize,
}

impl WithSimd for ConvRows<'_> {
    type Output = ();

    #[inline(always)]
    fn with_simd<S: Simd>(self, simd: S) {
        let ConvRows {
            layer,
            source,
            columns,
            shift,
            first_row,
            rows,
            width,
            stride,
            border,
        } = self;
        let tile = 2 * S::F32_LANES;
        for (r, row) in rows.chunks_mut(layer.channels_out * stride).enumerate() {
            let input_row = (first_row + r) * layer.stride + shift;
            let at = Tile {
                source,
                columns,
                input_row,
                stride,
                border,
            };
            for (out, size) in blocks(layer.channels_out) {
                for x in (0..width).step_by(tile) {
                    match size {
                        BLOCK => tile_at::<S, BLOCK>(simd, layer, &at, x, out, row),
                        4 => tile_at::<S, 4>(simd, layer, &at, x, out, row),
                        2 => tile_at::<S, 2>(simd, layer, &at, x, out, row),
                        _ => tile_at::<S, 1>(simd, layer, &at, x, out, row),
                    }
                }
            }
            if border > 0 {
                // the tiles wrote past the map's last column: the next layer's padding is zero
                for c in 0..layer.channels_out {
                    row[c * stride + border + width..(c + 1) * stride].fill(0.0);
                }
            }
        }
    }
}

/// Where a tile reads and writes, for one output row.
struct Tile<'a> {
    source: &'a Source<'a>,
    columns: &'a [usize],
    /// The data row of kernel row 0.
    input_row: usize,
    /// The output's row stride and border.
    stride: usize,
    border: usize,
}

/// The blocks of output channels that share a tile, as (first channel, size): [`BLOCK`] at a
/// time, then 4, 2 and 1 for what remains.
fn blocks(channels: usize) -> impl Iterator<Item = (usize, usize)> {
    let mut out = 0;
    std::iter::from_fn(move || {
        let left = channels - out;
        let size = match left {
            0 => return None,
            _ if left >= BLOCK => BLOCK,
            _ if left >= 4 => 4,
            _ if left >= 2 => 2,
            _ => 1,
        };
        out += size;
        Some((out - size, size))
    })
}

/// Output pixels `x .. x + 2·lanes` of one row, channels `out .. out + B`: bias, every input
/// channel and kernel tap, the ReLU's slopes, stored in `row` (the output row, every channel).
#[inline(always)]
fn tile_at<S: Simd, const B: usize>(
    simd: S,
    layer: &ConvLayer,
    at: &Tile<'_>,
    x: usize,
    out: usize,
    row: &mut [f32],
) {
    let lanes = S::F32_LANES;
    let k = layer.kernel;
    let taps = layer.channels_in * k * k;
    let mut acc = [[simd.splat_f32s(0.0); 2]; B];
    for (b, acc) in acc.iter_mut().enumerate() {
        *acc = [simd.splat_f32s(layer.bias[out + b]); 2];
    }
    // this block's weights, tap by tap ([`ConvLayer::packed`])
    let mut weights = layer.packed[out * taps..(out + B) * taps].chunks_exact(B);
    let mut add = |values: &[f32], w: &[f32]| {
        let (v, _) = S::as_simd_f32s(values);
        let (v0, v1) = (v[0], v[1]);
        for (acc, &w) in acc.iter_mut().zip(w) {
            let w = simd.splat_f32s(w);
            acc[0] = simd.mul_add_f32s(w, v0, acc[0]);
            acc[1] = simd.mul_add_f32s(w, v1, acc[1]);
        }
    };
    let first = at.columns[0] + x;
    for c in 0..layer.channels_in {
        for ky in 0..k {
            let block = at.source.block(at.input_row + ky, c);
            if layer.stride == 1 {
                // the taps side by side: one window, whose bounds the compiler sees
                let window = &block[first..first + 2 * lanes + k - 1];
                for (kx, w) in (0..k).zip(weights.by_ref()) {
                    add(&window[kx..kx + 2 * lanes], w);
                }
            } else {
                for (&column, w) in at.columns.iter().zip(weights.by_ref()) {
                    add(&block[column + x..column + x + 2 * lanes], w);
                }
            }
        }
    }
    let zero = simd.splat_f32s(0.0);
    for (b, acc) in acc.iter().enumerate() {
        let start = (out + b) * at.stride + at.border + x;
        let (dst, _) = S::as_mut_simd_f32s(&mut row[start..start + 2 * lanes]);
        for (d, &a) in dst.iter_mut().zip(acc) {
            *d = match &layer.slopes {
                Some(slopes) => simd.mul_add_f32s(
                    simd.splat_f32s(slopes[out + b]),
                    simd.min_f32s(a, zero),
                    simd.max_f32s(a, zero),
                ),
                None => a,
            };
        }
    }
}

/// A dense layer, `y = x·W + b` with `W` as burn stores it (`[inputs][outputs]`), and its ReLU
/// slopes, if any.
#[derive(Debug, Clone)]
pub struct DenseLayer {
    weights: Vec<f32>,
    bias: Vec<f32>,
    slopes: Option<Vec<f32>>,
}

impl DenseLayer {
    /// A burn linear layer and its slopes.
    pub fn from_burn(linear: &Linear, slopes: Option<Vec<f32>>) -> Result<Self, String> {
        let [inputs, outputs] = linear.weight.val().dims();
        let layer = Self {
            weights: floats(linear.weight.val())?,
            bias: bias_or_zeros(&linear.bias, outputs)?,
            slopes,
        };
        layer.check(inputs, outputs)?;
        Ok(layer)
    }

    /// Checks the arrays are those of an `inputs` → `outputs` layer.
    pub fn check(&self, inputs: usize, outputs: usize) -> Result<(), String> {
        let ok = self.weights.len() == inputs * outputs
            && self.bias.len() == outputs
            && self.slopes.as_ref().is_none_or(|s| s.len() == outputs);
        ok.then_some(())
            .ok_or_else(|| format!("not a {inputs}→{outputs} dense layer"))
    }

    /// The layer on `x`.
    pub fn forward(&self, x: &[f32]) -> Vec<f32> {
        let mut y = self.bias.clone();
        for (&v, row) in x.iter().zip(self.weights.chunks_exact(y.len())) {
            for (y, &w) in y.iter_mut().zip(row) {
                *y += v * w;
            }
        }
        if let Some(slopes) = &self.slopes {
            for (y, &a) in y.iter_mut().zip(slopes) {
                if *y < 0.0 {
                    *y *= a;
                }
            }
        }
        y
    }
}

/// A tensor's values.
pub fn floats<const D: usize>(tensor: Tensor<D>) -> Result<Vec<f32>, String> {
    tensor
        .into_data()
        .try_to_vec::<f32>()
        .map_err(|e| format!("{e:?}"))
}

/// A layer's bias, zeros for one without.
fn bias_or_zeros(bias: &Option<Param<Tensor<1>>>, outputs: usize) -> Result<Vec<f32>, String> {
    match bias {
        Some(b) => floats(b.val()),
        None => Ok(vec![0.0; outputs]),
    }
}

/// The tagger's decoder ([`crate::Decoder`]) on the CPU: the same layers from the same weights
/// ([`crate::Decoder::cpu`]).
#[derive(Debug, Clone)]
pub struct CpuDecoder {
    resolution: usize,
    patch: usize,
    stem: ConvLayer,
    conv: ConvLayer,
    down1: ConvLayer,
    conv2: ConvLayer,
    down2: ConvLayer,
    reduce: ConvLayer,
    head: DenseLayer,
    /// The read-out takes the positions' mean ([`crate::DecoderConfig::pool`]).
    pool: bool,
    arch: Arch,
}

impl CpuDecoder {
    /// The layers in [`crate::Decoder::forward`]'s order; checks that they chain up.
    pub(crate) fn new(
        resolution: usize,
        patch: usize,
        [stem, conv, down1, conv2, down2, reduce]: [ConvLayer; 6],
        head: DenseLayer,
        pool: bool,
    ) -> Result<Self, String> {
        let decoder = Self {
            resolution,
            patch,
            stem,
            conv,
            down1,
            conv2,
            down2,
            reduce,
            head,
            pool,
            arch: Arch::new(),
        };
        let mut side = resolution / patch;
        let mut channels = 3 * patch * patch;
        for layer in decoder.layers() {
            let (inputs, outputs, ..) = layer.shape();
            if inputs != channels || side == 0 {
                return Err(format!(
                    "a layer of {inputs} input channels after {channels}"
                ));
            }
            (side, channels) = (layer.output_side(side), outputs);
        }
        let positions = if pool { 1 } else { side * side };
        decoder
            .head
            .check(channels * positions, decoder.head.bias.len())?;
        let residual = |l: &ConvLayer| l.shape().0 == l.shape().1 && l.stride == 1;
        if !(residual(&decoder.conv) && residual(&decoder.conv2)) || side == 0 {
            return Err("the residual layers change the maps' shape".into());
        }
        Ok(decoder)
    }

    fn layers(&self) -> [&ConvLayer; 6] {
        [
            &self.stem,
            &self.conv,
            &self.down1,
            &self.conv2,
            &self.down2,
            &self.reduce,
        ]
    }

    /// Side of the square image the decoder reads.
    pub fn resolution(&self) -> usize {
        self.resolution
    }

    /// The same decoder on another instruction set (the scalar path's tests).
    pub fn with_arch(self, arch: Arch) -> Self {
        Self { arch, ..self }
    }

    /// Channel-bit logits of each image: `[R][R][3]` interleaved RGB values in 0..1 (an
    /// `image::Rgb32FImage`'s raw pixels), R the decoder's resolution. One image per task on
    /// every core; a single image in bands of rows.
    pub fn forward(&self, images: &[&[f32]]) -> Result<Vec<Vec<f32>>, String> {
        let r = self.resolution;
        if let Some(bad) = images.iter().find(|i| i.len() != r * r * 3) {
            return Err(format!(
                "{} values where {r}×{r}×3 were expected",
                bad.len()
            ));
        }
        Ok(match images {
            [one] => vec![self.one(one, true)],
            _ => images.par_iter().map(|i| self.one(i, false)).collect(),
        })
    }

    fn one(&self, image: &[f32], parallel: bool) -> Vec<f32> {
        let arch = self.arch;
        let x = unshuffled(image, self.resolution, self.patch, self.stem.padding);
        let mut h = self.stem.forward(&x, self.conv.padding, arch, parallel);
        h.add(&self.conv.forward(&h, h.border, arch, parallel));
        let mut h = self.down1.forward(&h, self.conv2.padding, arch, parallel);
        h.add(&self.conv2.forward(&h, h.border, arch, parallel));
        let h = self.down2.forward(&h, self.reduce.padding, arch, parallel);
        let h = self.reduce.forward(&h, 0, arch, parallel);
        let flat: Vec<f32> = if self.pool {
            // `mean_dim(2).mean_dim(3)`: each channel's mean over the positions
            let positions = (h.height * h.width) as f32;
            (0..h.channels)
                .map(|c| {
                    (0..h.height)
                        .map(|y| h.row(y, c)[..h.width].iter().sum::<f32>())
                        .sum::<f32>()
                        / positions
                })
                .collect()
        } else {
            // `flatten(1, 3)`: channel, row, column
            let mut flat = Vec::with_capacity(h.channels * h.height * h.width);
            for c in 0..h.channels {
                for y in 0..h.height {
                    flat.extend_from_slice(&h.row(y, c)[..h.width]);
                }
            }
            flat
        };
        self.head.forward(&flat)
    }
}

/// An `[R][R][3]` interleaved RGB image (values 0..1) as the networks' first layer takes it:
/// `image.sub_scalar(0.5)`, then PyTorch's pixel unshuffle by `p` (channel c·p² + i·p + j of
/// grid cell (y, x) is pixel (y·p + i, x·p + j) of colour c), with `border` zeros around.
fn unshuffled(image: &[f32], r: usize, p: usize, border: usize) -> Maps {
    let grid = r / p;
    let mut x = Maps::zeros(3 * p * p, grid, grid, border);
    x.for_each_row_mut(false, |y, row, at| {
        for c in 0..3 {
            for i in 0..p {
                let line = &image[(y * p + i) * r * 3..][..r * 3];
                for j in 0..p {
                    let dst = &mut row[at((c * p + i) * p + j)..][..grid];
                    for (gx, d) in dst.iter_mut().enumerate() {
                        *d = line[(gx * p + j) * 3 + c] - 0.5;
                    }
                }
            }
        }
    });
    x
}

/// The tagger's encoder ([`crate::Encoder`]) on the CPU: the same layers from the same weights
/// ([`crate::Encoder::cpu`]), one image in bands of rows on every core.
#[derive(Debug, Clone)]
pub struct CpuEncoder {
    resolution: usize,
    patch: usize,
    stem: ConvLayer,
    message: DenseLayer,
    message_channels: usize,
    message_grid: usize,
    fuse: ConvLayer,
    blocks: Vec<ConvLayer>,
    head: ConvLayer,
    smooth: ConvLayer,
    /// The low-pass's taps ([`crate::noise::gaussian_blur`]), none without one.
    lowpass: Option<Vec<f32>>,
    luma: bool,
    chroma: f32,
    arch: Arch,
}

/// What the encoder does after its layers ([`crate::EncoderConfig`]'s parameter-free
/// options): the low-pass's sigma, a luminance-only residual and the chroma it keeps.
#[derive(Debug, Clone, Copy)]
pub(crate) struct EncoderFinish {
    pub lowpass: f32,
    pub luma: bool,
    pub chroma: f32,
}

impl CpuEncoder {
    /// The layers in [`crate::Encoder::forward`]'s order; checks that they chain up.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        resolution: usize,
        patch: usize,
        [stem, fuse, head, smooth]: [ConvLayer; 4],
        blocks: Vec<ConvLayer>,
        message: DenseLayer,
        [message_channels, message_grid]: [usize; 2],
        finish: EncoderFinish,
    ) -> Result<Self, String> {
        let grid = resolution / patch.max(1);
        let packed = 3 * patch * patch;
        let width = stem.channels_out;
        let same_side = |l: &ConvLayer| l.stride == 1 && l.output_side(grid) == grid;
        let chained = patch > 0
            && grid > 0
            && message_grid > 0
            && grid.is_multiple_of(message_grid)
            && stem.channels_in == packed
            && same_side(&stem)
            && fuse.channels_in == width + message_channels
            && same_side(&fuse)
            && blocks
                .iter()
                .all(|b| b.channels_in == fuse.channels_out && b.channels_out == b.channels_in)
            && blocks.iter().all(same_side)
            && head.channels_in == fuse.channels_out
            && head.channels_out == packed
            && same_side(&head)
            && (smooth.channels_in, smooth.channels_out, smooth.stride) == (3, 3, 1)
            && smooth.output_side(resolution) == resolution;
        if !chained {
            return Err("the encoder's layers do not chain up".into());
        }
        let cells = message_channels * message_grid * message_grid;
        if message.bias.len() != cells {
            return Err(format!(
                "a message layer of {} outputs for {cells} cells",
                message.bias.len()
            ));
        }
        Ok(Self {
            resolution,
            patch,
            stem,
            message,
            message_channels,
            message_grid,
            fuse,
            blocks,
            head,
            smooth,
            lowpass: crate::noise::blur_taps(finish.lowpass),
            luma: finish.luma,
            chroma: finish.chroma,
            arch: Arch::new(),
        })
    }

    /// The same encoder on another instruction set (the scalar path's tests).
    pub fn with_arch(self, arch: Arch) -> Self {
        Self { arch, ..self }
    }

    /// Message values it takes: the channel bits.
    pub fn message_len(&self) -> usize {
        self.message.weights.len() / self.message.bias.len().max(1)
    }

    /// The residual for `image` (`[R][R][3]` interleaved RGB in 0..1, an `image::Rgb32FImage`'s
    /// raw pixels) and `message` (the channel bits as ±1, or boosted): three R×R planes, as
    /// [`crate::Encoder::forward`] returns them for a batch of one.
    pub fn forward(&self, image: &[f32], message: &[f32]) -> Result<Vec<f32>, String> {
        let (arch, r, p) = (self.arch, self.resolution, self.patch);
        if image.len() != r * r * 3 {
            return Err(format!(
                "{} values where {r}×{r}×3 were expected",
                image.len()
            ));
        }
        let inputs = self.message_len();
        if message.len() != inputs {
            return Err(format!(
                "{} message values where {inputs} were expected",
                message.len()
            ));
        }
        let grid = r / p;
        let x = unshuffled(image, r, p, self.stem.padding);
        let x = self.stem.forward(&x, 0, arch, true);
        // the message map, nearest-upsampled to the grid and set after the image's channels
        let m = self.message.forward(message);
        let (width, mc, mg) = (x.channels, self.message_channels, self.message_grid);
        let mut fused = Maps::zeros(width + mc, grid, grid, self.fuse.padding);
        fused.for_each_row_mut(false, |y, row, at| {
            for c in 0..width {
                row[at(c)..at(c) + grid].copy_from_slice(&x.row(y, c)[..grid]);
            }
            let my = y * mg / grid;
            for c in 0..mc {
                let cells = &m[(c * mg + my) * mg..][..mg];
                for (gx, d) in row[at(width + c)..][..grid].iter_mut().enumerate() {
                    *d = cells[gx * mg / grid];
                }
            }
        });
        let mut h = self.fuse.forward(&fused, self.head.padding, arch, true);
        for block in &self.blocks {
            h.add(&block.forward(&h, h.border, arch, true));
        }
        let packed = self.head.forward(&h, 0, arch, true);
        // PyTorch's pixel shuffle, the inverse of the unshuffle
        let mut shuffled = Maps::zeros(3, r, r, self.smooth.padding);
        shuffled.for_each_row_mut(false, |y, row, at| {
            let (gy, i) = (y / p, y % p);
            for c in 0..3 {
                for j in 0..p {
                    let cells = &packed.row(gy, (c * p + i) * p + j)[..grid];
                    for (gx, &v) in cells.iter().enumerate() {
                        row[at(c) + gx * p + j] = v;
                    }
                }
            }
        });
        let smooth = self.smooth.forward(&shuffled, 0, arch, true);
        let mut planes: Vec<Vec<f32>> = (0..3)
            .map(|c| {
                (0..r)
                    .flat_map(|y| smooth.row(y, c)[..r].iter().copied())
                    .collect()
            })
            .collect();
        if let Some(taps) = &self.lowpass {
            for plane in &mut planes {
                *plane = blurred(plane, r, taps);
            }
        }
        if self.luma {
            let (red, rest) = planes.split_at_mut(1);
            let (green, blue) = rest.split_at_mut(1);
            for ((a, b), c) in red[0].iter_mut().zip(&mut green[0]).zip(&mut blue[0]) {
                let mean = (*a + *b + *c) / 3.0;
                for v in [a, b, c] {
                    *v = mean + (*v - mean) * self.chroma;
                }
            }
        }
        Ok(planes.concat())
    }
}

/// [`crate::noise::gaussian_blur`] of one `side`² plane: the separable pass with zero
/// padding, row then column, divided by the same blur of ones (no darkening at the borders).
fn blurred(plane: &[f32], side: usize, taps: &[f32]) -> Vec<f32> {
    let radius = taps.len() / 2;
    // Σ of the taps that fall inside the plane, per position along one axis
    let inside: Vec<f32> = (0..side)
        .map(|i| {
            taps.iter()
                .enumerate()
                .filter(|&(k, _)| (i + k).checked_sub(radius).is_some_and(|j| j < side))
                .map(|(_, &t)| t)
                .sum()
        })
        .collect();
    let pass = |source: &[f32], along_rows: bool| -> Vec<f32> {
        let mut out = vec![0.0; side * side];
        for y in 0..side {
            for x in 0..side {
                let (at, step) = if along_rows { (x, 1) } else { (y, side) };
                let base = y * side + x - at * step;
                out[y * side + x] = taps
                    .iter()
                    .enumerate()
                    .filter_map(|(k, &t)| {
                        let j = (at + k).checked_sub(radius).filter(|&j| j < side)?;
                        Some(t * source[base + j * step])
                    })
                    .sum();
            }
        }
        out
    };
    let mut out = pass(&pass(plane, true), false);
    for (y, row) in out.chunks_exact_mut(side).enumerate() {
        for (x, v) in row.iter_mut().enumerate() {
            *v /= inside[x] * inside[y];
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_take_the_buffers_of_dropped_maps_zeroed() {
        let mut maps = Maps::zeros(4, 100, 100, 1);
        maps.for_each_row_mut(false, |_, row, _| row.fill(7.0));
        let buffer = maps.data.as_ptr();
        drop(maps);
        // smaller maps: the dropped maps' buffer, every value zero again
        let again = Maps::zeros(3, 90, 90, 2);
        assert_eq!(again.data.as_ptr(), buffer, "the dropped maps' buffer");
        assert!(again.data.iter().all(|&v| v == 0.0));
        // larger ones than any kept: fresh
        let larger = Maps::zeros(8, 100, 100, 1);
        assert_ne!(larger.data.as_ptr(), buffer);
        assert!(larger.data.iter().all(|&v| v == 0.0));
        // at most SPARE_MAX_BYTES kept by a thread, small buffers not at all
        drop((again, larger));
        for _ in 0..4 {
            recycle(vec![0.0; SPARE_MAX_BYTES / 4 / 3]);
        }
        recycle(vec![0.0; 100]);
        let kept = SPARE.with_borrow(|spare| spare.iter().map(Vec::capacity).collect::<Vec<_>>());
        assert!(
            kept.iter().sum::<usize>() <= SPARE_MAX_BYTES / 4,
            "{kept:?}"
        );
        assert!(kept.iter().all(|&c| c >= SPARE_MIN_VALUES), "{kept:?}");
        assert_eq!(kept.len(), 3, "the three largest fit: {kept:?}");
    }
}
