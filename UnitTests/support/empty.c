/* Keeps the support library non-empty. */
typedef int oa_test_support_unused;
