/* Prometheus naming and native-histogram bucket maths (src/output/prom.c). */
#include <criterion/criterion.h>
#include <math.h>

#include "output/prom.h"

/* Bucket i holds (2^((i-1)/2^s), 2^(i/2^s)]. */
static double upper_bound(int32_t i, int schema)
{
    return pow(2.0, ldexp((double)i, -schema));
}

Test(native_bucket, powers_of_two_are_upper_bounds)
{
    for (int schema = -4; schema <= 8; schema++) {
        cr_expect_eq(sv_prom_native_bucket(1.0, schema), 0, "schema %d", schema);
        if (schema >= 0) {
            cr_expect_eq(sv_prom_native_bucket(2.0, schema), 1 << schema, "schema %d", schema);
            cr_expect_eq(sv_prom_native_bucket(0.5, schema), -(1 << schema), "schema %d", schema);
        }
    }
    /* schema -2: buckets 16 wide in log2; 2 and 16 share bucket 1, 17 is in bucket 2 */
    cr_expect_eq(sv_prom_native_bucket(2.0, -2), 1);
    cr_expect_eq(sv_prom_native_bucket(16.0, -2), 1);
    cr_expect_eq(sv_prom_native_bucket(17.0, -2), 2);
    cr_expect_eq(sv_prom_native_bucket(1.0 / 16, -2), -1);
}

Test(native_bucket, every_value_lies_inside_its_bucket)
{
    int schemas[] = {-4, -1, 0, 3, 5, 8};
    for (size_t k = 0; k < sizeof(schemas) / sizeof(*schemas); k++) {
        int s = schemas[k];
        for (double v = 1e-7; v < 1e5; v *= 1.0137) {
            int32_t i = sv_prom_native_bucket(v, s);
            /* relative slack for pow's rounding at the bounds */
            cr_assert(v <= upper_bound(i, s) * (1 + 1e-12), "v=%g s=%d i=%d", v, s, i);
            cr_assert(v > upper_bound(i - 1, s) * (1 - 1e-12), "v=%g s=%d i=%d", v, s, i);
        }
    }
}

Test(native_bucket, schema_five_buckets_are_about_two_percent_wide)
{
    /* a latency of 4.3 ms and one 2% larger fall in adjacent buckets at most */
    int32_t a = sv_prom_native_bucket(0.0043, 5), b = sv_prom_native_bucket(0.0043 * 1.02, 5);
    cr_expect(b - a <= 1);
    cr_expect_float_eq(upper_bound(a, 5) / upper_bound(a - 1, 5), pow(2, 1.0 / 32), 1e-12);
}

Test(label_name, invalid_characters_become_underscores)
{
    sv_buf_t b;
    sv_buf_init(&b, SIZE_MAX);
    sv_prom_label_name(&b, "expected_response");
    sv_prom_label_name(&b, "|9a-b.c");
    sv_buf_append(&b, "", 1);
    cr_expect_str_eq(b.data, "expected_response__9a_b_c");
    sv_buf_free(&b);
}
