// The host entry points of multimodule's other translation units.
#ifndef MULTIMODULE_H
#define MULTIMODULE_H
void mm_scale(float *d, int n);                 /* multimodule_scale.cu: d[i] = d[i] * 3 + 1 */
void mm_sum(const float *d, int n, double *out); /* multimodule_sum.cu: *out = sum of d      */
#endif
