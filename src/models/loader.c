/*
 * loader.c - finding weight tensors by name with the shapes an
 * architecture expects, and reading hyperparameters that several
 * architectures share. Every failure names the tensor and both shapes.
 */
#include <stdio.h>
#include <string.h>

#include "model.h"

static const gguf_tensor *find(const gguf_file *f, const char *name, bool required, gg_err *e,
                               int *rc) {
    const gguf_tensor *t = gguf_find_tensor(f, name);
    *rc = 0;
    if (!t && required) *rc = gg_fail(e, "missing tensor '%s'", name);
    return t;
}

int gg_load_matrix(const gguf_file *f, const char *name, int64_t ne0, int64_t ne1, bool required,
                   gg_matrix *out, gg_err *e) {
    int rc;
    memset(out, 0, sizeof *out);
    const gguf_tensor *t = find(f, name, required, e, &rc);
    if (!t) return rc;
    if (t->n_dims > 2 || t->ne[0] != ne0 || t->ne[1] != ne1)
        return gg_fail(e, "tensor '%s' has shape [%lld, %lld, %lld, %lld], expected [%lld, %lld]",
                       name, (long long)t->ne[0], (long long)t->ne[1], (long long)t->ne[2],
                       (long long)t->ne[3], (long long)ne0, (long long)ne1);
    const gg_type_traits *tr = gg_type_info(t->type);
    if (!tr || !tr->can_compute)
        return gg_fail(e, "tensor '%s' has type %s, which ggembed cannot compute with", name,
                       gg_type_name(t->type));
    out->data = t->data;
    out->type = (gg_type)t->type;
    out->cols = ne0;
    out->rows = ne1;
    out->row_bytes = gg_row_size((gg_type)t->type, ne0);
    return 0;
}

int gg_load_vector(const gguf_file *f, const char *name, int64_t n, bool required,
                   const float **out, gg_err *e) {
    int rc;
    *out = NULL;
    const gguf_tensor *t = find(f, name, required, e, &rc);
    if (!t) return rc;
    if (t->n_dims != 1 || t->ne[0] != n)
        return gg_fail(e, "tensor '%s' has %u dimensions of which the first is %lld, expected a "
                       "vector of %lld", name, t->n_dims, (long long)t->ne[0], (long long)n);
    if (t->type != GG_TYPE_F32)
        return gg_fail(e, "tensor '%s' has type %s; norms and biases must be f32", name,
                       gg_type_name(t->type));
    *out = (const float *)(const void *)t->data;
    return 0;
}

void gg_embedding_row(const gg_matrix *table, int64_t row, float *out) {
    const uint8_t *src = (const uint8_t *)table->data + (size_t)row * table->row_bytes;
    gg_dequantize_row(table->type, src, out, table->cols);
}
