//! Errors of the biometric layer. Each has a stable code; the HTTP layer maps them once.

/// What can go wrong while reading an image or running the models.
///
/// A picture without a face is not an error: it is a result with the `NO_FACE_DETECTED` warning.
#[derive(Debug, thiserror::Error)]
pub enum BiometricError {
    #[error("the image is empty (0 bytes)")]
    EmptyImage,
    #[error("the image is {size} bytes; at most {max} bytes are accepted")]
    ImageTooLarge { size: usize, max: usize },
    #[error(
        "the image is {width}x{height} pixels; at most {max_pixels} pixels and {max_side} pixels per side are accepted"
    )]
    TooManyPixels {
        width: u64,
        height: u64,
        max_pixels: u64,
        max_side: u32,
    },
    #[error(
        "the image is {width}x{height} pixels; a face picture needs at least {min_side} pixels per side and at most {max_aspect}:1 between its sides"
    )]
    BadShape {
        width: u64,
        height: u64,
        min_side: u32,
        max_aspect: f32,
    },
    #[error("the image format is not supported; send JPEG, PNG, WebP or TIFF")]
    UnsupportedFormat,
    #[error("the image could not be decoded: {0}")]
    Decode(String),
    #[error("ONNX Runtime failed: {0}")]
    Runtime(String),
    #[error("model {name}: {reason}")]
    Model { name: String, reason: String },
    #[error(
        "the template was made with embedder {template_model} ({template_sha256}); this engine runs {engine_model} ({engine_sha256}); re-enrol the subject"
    )]
    TemplateMismatch {
        template_model: String,
        template_sha256: String,
        engine_model: String,
        engine_sha256: String,
    },
    #[error("invalid template: {0}")]
    InvalidTemplate(String),
}

impl BiometricError {
    /// Stable machine-readable code (documented in `docs/biometrics.md`).
    pub fn code(&self) -> &'static str {
        match self {
            Self::EmptyImage => "EMPTY_IMAGE",
            Self::ImageTooLarge { .. } => "IMAGE_TOO_LARGE",
            Self::TooManyPixels { .. } => "IMAGE_TOO_MANY_PIXELS",
            Self::BadShape { .. } => "IMAGE_SHAPE_UNSUPPORTED",
            Self::UnsupportedFormat => "UNSUPPORTED_IMAGE_FORMAT",
            Self::Decode(_) => "IMAGE_DECODE_FAILED",
            Self::Runtime(_) => "RUNTIME_ERROR",
            Self::Model { .. } => "MODEL_ERROR",
            Self::TemplateMismatch { .. } => "TEMPLATE_MODEL_MISMATCH",
            Self::InvalidTemplate(_) => "INVALID_TEMPLATE",
        }
    }

    /// True when the caller sent something unusable (as opposed to a server-side failure).
    pub fn is_client_error(&self) -> bool {
        matches!(
            self,
            Self::EmptyImage
                | Self::ImageTooLarge { .. }
                | Self::TooManyPixels { .. }
                | Self::BadShape { .. }
                | Self::UnsupportedFormat
                | Self::Decode(_)
                | Self::TemplateMismatch { .. }
                | Self::InvalidTemplate(_)
        )
    }
}

impl From<ort::Error> for BiometricError {
    fn from(e: ort::Error) -> Self {
        Self::Runtime(e.to_string())
    }
}
