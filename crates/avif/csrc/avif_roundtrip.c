// AVIF round trip through the system's libavif (>= 0.11): 8-bit RGB or grey in, 8-bit out, 4:2:0
// chroma (4:0:0 for grey) as browsers and image CDNs write it. Compiled against libavif's own
// header so that no struct layout is copied into Rust. Called from src/codecs.rs.
#include <avif/avif.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

// Returns NULL on success, or libavif's message for the failed step (a static string).
// On success *out holds width*height*channels bytes, malloc'd: free with ft_avif_free.
const char * ft_avif_roundtrip(const uint8_t * pixels, uint32_t width, uint32_t height,
                               uint32_t channels, int quantizer, int speed, uint8_t ** out,
                               size_t * encoded_size)
{
    *out = NULL;
    *encoded_size = 0;
    if (channels != 1 && channels != 3) {
        return "channels must be 1 or 3";
    }
    const char * failure = NULL;
    avifResult result;
    avifRWData encoded = AVIF_DATA_EMPTY;
    avifEncoder * encoder = NULL;
    avifDecoder * decoder = NULL;
    avifImage * decoded = NULL;
    avifImage * image = avifImageCreate(width, height, 8,
                                        channels == 1 ? AVIF_PIXEL_FORMAT_YUV400 : AVIF_PIXEL_FORMAT_YUV420);
    if (!image) {
        return "out of memory";
    }
    image->yuvRange = AVIF_RANGE_FULL;
    image->matrixCoefficients = AVIF_MATRIX_COEFFICIENTS_BT601;
    if (channels == 1) {
        // grey: the luma plane is the photo
        result = avifImageAllocatePlanes(image, AVIF_PLANES_YUV);
        if (result != AVIF_RESULT_OK) {
            failure = avifResultToString(result);
            goto done;
        }
        for (uint32_t y = 0; y < height; ++y) {
            memcpy(image->yuvPlanes[AVIF_CHAN_Y] + (size_t)y * image->yuvRowBytes[AVIF_CHAN_Y],
                   pixels + (size_t)y * width, width);
        }
    } else {
        avifRGBImage rgb;
        avifRGBImageSetDefaults(&rgb, image);
        rgb.format = AVIF_RGB_FORMAT_RGB;
        rgb.depth = 8;
        rgb.pixels = (uint8_t *)pixels;
        rgb.rowBytes = width * 3;
        result = avifImageRGBToYUV(image, &rgb);
        if (result != AVIF_RESULT_OK) {
            failure = avifResultToString(result);
            goto done;
        }
    }

    encoder = avifEncoderCreate();
    if (!encoder) {
        failure = "out of memory";
        goto done;
    }
    encoder->maxThreads = 1;
    encoder->speed = speed;
    encoder->minQuantizer = quantizer;
    encoder->maxQuantizer = quantizer;
    result = avifEncoderWrite(encoder, image, &encoded);
    if (result != AVIF_RESULT_OK) {
        failure = avifResultToString(result);
        goto done;
    }
    *encoded_size = encoded.size;

    decoder = avifDecoderCreate();
    decoded = avifImageCreateEmpty();
    if (!decoder || !decoded) {
        failure = "out of memory";
        goto done;
    }
    result = avifDecoderReadMemory(decoder, decoded, encoded.data, encoded.size);
    if (result != AVIF_RESULT_OK) {
        failure = avifResultToString(result);
        goto done;
    }
    if (decoded->width != width || decoded->height != height || decoded->depth != 8) {
        failure = "decoded size or depth differs from the input";
        goto done;
    }
    uint8_t * back = malloc((size_t)width * height * channels);
    if (!back) {
        failure = "out of memory";
        goto done;
    }
    if (channels == 1) {
        for (uint32_t y = 0; y < height; ++y) {
            memcpy(back + (size_t)y * width,
                   decoded->yuvPlanes[AVIF_CHAN_Y] + (size_t)y * decoded->yuvRowBytes[AVIF_CHAN_Y], width);
        }
    } else {
        avifRGBImage rgb;
        avifRGBImageSetDefaults(&rgb, decoded);
        rgb.format = AVIF_RGB_FORMAT_RGB;
        rgb.depth = 8;
        rgb.pixels = back;
        rgb.rowBytes = width * 3;
        result = avifImageYUVToRGB(decoded, &rgb);
        if (result != AVIF_RESULT_OK) {
            free(back);
            failure = avifResultToString(result);
            goto done;
        }
    }
    *out = back;

done:
    if (decoded) avifImageDestroy(decoded);
    if (decoder) avifDecoderDestroy(decoder);
    if (encoder) avifEncoderDestroy(encoder);
    avifRWDataFree(&encoded);
    avifImageDestroy(image);
    return failure;
}

void ft_avif_free(uint8_t * pixels)
{
    free(pixels);
}

// The AV1 encoder libavif picks (aom, rav1e, svt), for the attack's documentation and tests.
const char * ft_avif_encoder_name(void)
{
    return avifCodecName(AVIF_CODEC_CHOICE_AUTO, AVIF_CODEC_FLAG_CAN_ENCODE);
}
