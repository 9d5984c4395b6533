/* Undefines the calls.def entry macros after an expansion (pairs with calls_defaults.h). */
#undef TF_CALL
#undef TF_CUSTOM
#undef TF_LOCAL
#undef TF_INTERNAL
#undef TF_BACKEND
