//! ITC: the image's [CLS] and the text's mean-pooled states projected into one embedding space, compared by cosine
//! similarity over a learnable temperature. Also gives zero-shot scores for any finding text.

use burn::module::{Module, Param};
use burn::nn::{Linear, LinearConfig};
use burn::tensor::{Device, Tensor, TensorData};

/// CLIP's and BLIP's starting temperature.
const INITIAL_TEMPERATURE: f32 = 0.07;

#[derive(Module, Debug)]
pub struct Contrastive {
    pub vision_proj: Linear,
    pub text_proj: Linear,
    /// `[1]`, the softmax temperature of the similarities (clamped to [0.001, 0.5] when used).
    pub temperature: Param<Tensor<1>>,
}

/// Projections of the image and text [CLS] states into a shared space `embed_dim` wide.
#[derive(Debug, Clone)]
pub struct ContrastiveConfig {
    pub vision_width: usize,
    pub text_width: usize,
    pub embed_dim: usize,
}

impl ContrastiveConfig {
    pub fn init(&self, device: &Device) -> Contrastive {
        Contrastive {
            vision_proj: LinearConfig::new(self.vision_width, self.embed_dim).init(device),
            text_proj: LinearConfig::new(self.text_width, self.embed_dim).init(device),
            temperature: Param::from_tensor(Tensor::from_data(TensorData::new(vec![INITIAL_TEMPERATURE], [1]), device)),
        }
    }
}

impl Contrastive {
    /// Unit-length image embeddings `[batch, embed]` from the image [CLS] `[batch, vision_width]`.
    pub fn image_embedding(&self, cls: Tensor<2>) -> Tensor<2> {
        l2_normalize(self.vision_proj.forward(cls))
    }

    /// Unit-length text embeddings `[batch, embed]` from pooled text states `[batch, text_width]`.
    pub fn text_embedding(&self, pooled: Tensor<2>) -> Tensor<2> {
        l2_normalize(self.text_proj.forward(pooled))
    }

    /// Similarity logits `[images, texts]`: cosine similarity divided by the temperature.
    pub fn logits(&self, images: Tensor<2>, texts: Tensor<2>) -> Tensor<2> {
        let temperature = self.temperature.val().clamp(0.001, 0.5).unsqueeze_dim::<2>(0);
        images.matmul(texts.transpose()).div(temperature)
    }
}

/// Rows scaled to unit L2 norm.
pub fn l2_normalize(x: Tensor<2>) -> Tensor<2> {
    let norm = x.clone().powi_scalar(2).sum_dim(1).sqrt().clamp_min(1e-12);
    x.div(norm)
}
