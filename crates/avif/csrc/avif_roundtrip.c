// AVIF round trip through the system's libavif (>= 0.11): 8-bit RGB or grey in, 8-bit out, 4:2:0
// chroma (4:0:0 for grey) as browsers and image CDNs write it. Compiled against libavif's own
// header so that no struct layout is copied into Rust. Called from src/codecs.rs.
//
// libavif is opened (dlopen) at the first round trip, not linked: with its AV1 codecs it is some
// thirty shared libraries, whose loading cost every faketagger command 2.5-4.5 ms at start
// (measured on a 2-core machine) though only the avif:Q attack uses them; a machine without
// libavif then runs every command but that one, which says why it cannot. FT_AVIF_LIBRARY, the
// library's file name (its soname), comes from build.rs.
#include <avif/avif.h>
#include <dlfcn.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef FT_AVIF_LIBRARY
#define FT_AVIF_LIBRARY "libavif.so"
#endif

// The functions of libavif the shim calls, as `api.name`, typed by libavif's own declarations.
#define FT_AVIF_FUNCTIONS(X)                                                                         \
    X(avifImageCreate)                                                                               \
    X(avifImageCreateEmpty)                                                                          \
    X(avifImageAllocatePlanes)                                                                       \
    X(avifImageDestroy)                                                                              \
    X(avifRGBImageSetDefaults)                                                                       \
    X(avifImageRGBToYUV)                                                                             \
    X(avifImageYUVToRGB)                                                                             \
    X(avifEncoderCreate)                                                                             \
    X(avifEncoderWrite)                                                                              \
    X(avifEncoderDestroy)                                                                            \
    X(avifDecoderCreate)                                                                             \
    X(avifDecoderReadMemory)                                                                         \
    X(avifDecoderDestroy)                                                                            \
    X(avifRWDataFree)                                                                                \
    X(avifResultToString)                                                                            \
    X(avifCodecName)

#define FT_DECLARE(name) __typeof__(name) * name;
static struct {
    FT_AVIF_FUNCTIONS(FT_DECLARE)
} api;

static pthread_once_t loaded = PTHREAD_ONCE_INIT;
// Why libavif could not be used, or empty when it loaded.
static char load_failure[512];

static void load(void)
{
    // FAKETAGGER_LIBAVIF names another build of the library (a path, or a soname)
    const char * file = getenv("FAKETAGGER_LIBAVIF");
    if (!file || !file[0]) {
        file = FT_AVIF_LIBRARY;
    }
    void * library = dlopen(file, RTLD_NOW | RTLD_LOCAL);
    if (!library) {
        const char * why = dlerror();
        snprintf(load_failure, sizeof load_failure,
                 "libavif could not be loaded (%s; Debian/Ubuntu: apt install libavif15, or "
                 "FAKETAGGER_LIBAVIF=<its path>): %s",
                 file, why ? why : "no reason given");
        return;
    }
#define FT_RESOLVE(function)                                                                         \
    api.function = (__typeof__(api.function))dlsym(library, #function);                             \
    if (!api.function) {                                                                             \
        snprintf(load_failure, sizeof load_failure, "%s has no %s: libavif 0.11 or newer is needed", \
                 file, #function);                                                                   \
        return;                                                                                      \
    }
    FT_AVIF_FUNCTIONS(FT_RESOLVE)
}

// NULL once libavif is loaded (at the first call), else why it is not.
static const char * ft_avif_load(void)
{
    pthread_once(&loaded, load);
    return load_failure[0] ? load_failure : NULL;
}

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
    const char * unloaded = ft_avif_load();
    if (unloaded) {
        return unloaded;
    }
    const char * failure = NULL;
    avifResult result;
    avifRWData encoded = AVIF_DATA_EMPTY;
    avifEncoder * encoder = NULL;
    avifDecoder * decoder = NULL;
    avifImage * decoded = NULL;
    avifImage * image = api.avifImageCreate(width, height, 8,
                                        channels == 1 ? AVIF_PIXEL_FORMAT_YUV400 : AVIF_PIXEL_FORMAT_YUV420);
    if (!image) {
        return "out of memory";
    }
    image->yuvRange = AVIF_RANGE_FULL;
    image->matrixCoefficients = AVIF_MATRIX_COEFFICIENTS_BT601;
    if (channels == 1) {
        // grey: the luma plane is the photo
        result = api.avifImageAllocatePlanes(image, AVIF_PLANES_YUV);
        if (result != AVIF_RESULT_OK) {
            failure = api.avifResultToString(result);
            goto done;
        }
        for (uint32_t y = 0; y < height; ++y) {
            memcpy(image->yuvPlanes[AVIF_CHAN_Y] + (size_t)y * image->yuvRowBytes[AVIF_CHAN_Y],
                   pixels + (size_t)y * width, width);
        }
    } else {
        avifRGBImage rgb;
        api.avifRGBImageSetDefaults(&rgb, image);
        rgb.format = AVIF_RGB_FORMAT_RGB;
        rgb.depth = 8;
        rgb.pixels = (uint8_t *)pixels;
        rgb.rowBytes = width * 3;
        result = api.avifImageRGBToYUV(image, &rgb);
        if (result != AVIF_RESULT_OK) {
            failure = api.avifResultToString(result);
            goto done;
        }
    }

    encoder = api.avifEncoderCreate();
    if (!encoder) {
        failure = "out of memory";
        goto done;
    }
    encoder->maxThreads = 1;
    encoder->speed = speed;
    encoder->minQuantizer = quantizer;
    encoder->maxQuantizer = quantizer;
    result = api.avifEncoderWrite(encoder, image, &encoded);
    if (result != AVIF_RESULT_OK) {
        failure = api.avifResultToString(result);
        goto done;
    }
    *encoded_size = encoded.size;

    decoder = api.avifDecoderCreate();
    decoded = api.avifImageCreateEmpty();
    if (!decoder || !decoded) {
        failure = "out of memory";
        goto done;
    }
    result = api.avifDecoderReadMemory(decoder, decoded, encoded.data, encoded.size);
    if (result != AVIF_RESULT_OK) {
        failure = api.avifResultToString(result);
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
        api.avifRGBImageSetDefaults(&rgb, decoded);
        rgb.format = AVIF_RGB_FORMAT_RGB;
        rgb.depth = 8;
        rgb.pixels = back;
        rgb.rowBytes = width * 3;
        result = api.avifImageYUVToRGB(decoded, &rgb);
        if (result != AVIF_RESULT_OK) {
            free(back);
            failure = api.avifResultToString(result);
            goto done;
        }
    }
    *out = back;

done:
    if (decoded) api.avifImageDestroy(decoded);
    if (decoder) api.avifDecoderDestroy(decoder);
    if (encoder) api.avifEncoderDestroy(encoder);
    api.avifRWDataFree(&encoded);
    api.avifImageDestroy(image);
    return failure;
}

void ft_avif_free(uint8_t * pixels)
{
    free(pixels);
}

// The AV1 encoder libavif picks (aom, rav1e, svt), for the attack's documentation and tests.
const char * ft_avif_encoder_name(void)
{
    if (ft_avif_load()) {
        return NULL;
    }
    return api.avifCodecName(AVIF_CODEC_CHOICE_AUTO, AVIF_CODEC_FLAG_CAN_ENCODE);
}
