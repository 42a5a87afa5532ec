// Limits of the C API: size products that overflow, sizes past the row
// limit, and handles that are not what they claim to be. Each call must
// return its documented status, say why, and write nothing.
#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "usmoe/usmoe.h"

namespace {

std::string LastError() { return usmoe_last_error(); }

TEST(CapiLimits, RouterSizeProductOverflowIsOutOfMemory) {
  usmoe_router_config c;
  ASSERT_EQ(usmoe_router_config_init(&c, USMOE_POLICY_UNIFIED), USMOE_STATUS_SUCCESS);
  c.num_experts = INT32_MAX;  // N·d = 4.6e18: beyond any allocation
  c.dim = INT32_MAX;
  c.k = 1;
  const float w = 0.0f;  // never read: the size check comes first
  usmoe_router* r = reinterpret_cast<usmoe_router*>(0x1);
  EXPECT_EQ(usmoe_router_create(&c, &w, &r), USMOE_STATUS_OUT_OF_MEMORY);
  EXPECT_EQ(r, reinterpret_cast<usmoe_router*>(0x1)) << "output handle written on failure";
  EXPECT_NE(LastError().find("too large"), std::string::npos) << LastError();
}

TEST(CapiLimits, SizesPastTheRowLimitAreRejected) {
  usmoe_router_config c;
  ASSERT_EQ(usmoe_router_config_init(&c, USMOE_POLICY_TOKEN_CHOICE), USMOE_STATUS_SUCCESS);
  c.num_experts = int64_t{1} << 40;
  c.dim = 4;
  c.k = 1;
  const float w = 0.0f;
  usmoe_router* r = nullptr;
  EXPECT_EQ(usmoe_router_create(&c, &w, &r), USMOE_STATUS_INVALID_ARGUMENT);
  EXPECT_EQ(r, nullptr);
  EXPECT_NE(LastError().find("num_experts"), std::string::npos) << LastError();
}

TEST(CapiLimits, KernelProductOverflow) {
  const float v = 0.0f;
  float out = 7.0f;
  EXPECT_EQ(usmoe_scores(&v, INT32_MAX, INT32_MAX, 0.5, USMOE_EXPERT_SCORE_SIGMOID, nullptr, 0,
                         nullptr, &out),
            USMOE_STATUS_OUT_OF_MEMORY);
  EXPECT_EQ(out, 7.0f);
  int64_t ids = -5;
  EXPECT_EQ(usmoe_topk_rows(&v, INT32_MAX, INT32_MAX, 1, &ids, &out), USMOE_STATUS_OUT_OF_MEMORY);
  EXPECT_EQ(ids, -5);
  EXPECT_EQ(usmoe_topc_global(&v, INT64_MAX, 1, &ids, 1), USMOE_STATUS_OUT_OF_MEMORY);
  EXPECT_EQ(ids, -5);
}

TEST(CapiLimits, BudgetsAtAndBeyondTheirLimits) {
  std::vector<float> v = {0.5f, 0.25f, 0.25f, 1.0f};
  std::vector<int64_t> idx(5, -1);
  EXPECT_EQ(usmoe_topc_global(v.data(), 4, 5, idx.data(), 5), USMOE_STATUS_INVALID_ARGUMENT);
  EXPECT_EQ(usmoe_topc_global(v.data(), 4, -1, idx.data(), 5), USMOE_STATUS_INVALID_ARGUMENT);
  EXPECT_EQ(idx, std::vector<int64_t>(5, -1));
  ASSERT_EQ(usmoe_topc_global(v.data(), 4, 4, idx.data(), 4), USMOE_STATUS_SUCCESS);  // c = n
  EXPECT_EQ(idx, (std::vector<int64_t>{0, 1, 2, 3, -1}));
  ASSERT_EQ(usmoe_topc_global(v.data(), 4, 0, nullptr, 0), USMOE_STATUS_SUCCESS);  // c = 0
  std::vector<int64_t> ids(4, -1);
  std::vector<float> vals(4, -1.0f);
  EXPECT_EQ(usmoe_topk_rows(v.data(), 1, 4, 5, ids.data(), vals.data()), USMOE_STATUS_INVALID_ARGUMENT);
  EXPECT_EQ(usmoe_topc_cols(v.data(), 4, 1, 5, ids.data(), vals.data()), USMOE_STATUS_INVALID_ARGUMENT);
  EXPECT_EQ(ids, std::vector<int64_t>(4, -1));
}

TEST(CapiLimits, ForeignHandlesAreRejected) {
  // Memory that is not a usmoe handle (zeroed, so the tag cannot match).
  alignas(64) unsigned char fake[512];
  std::memset(fake, 0, sizeof(fake));
  usmoe_plan_view view;
  view.struct_size = sizeof(view);
  EXPECT_EQ(usmoe_plan_get_view(reinterpret_cast<const usmoe_plan*>(fake), &view),
            USMOE_STATUS_INVALID_ARGUMENT);
  EXPECT_NE(LastError().find("not a live usmoe_plan"), std::string::npos) << LastError();
  usmoe_router_config c;
  c.struct_size = sizeof(c);
  EXPECT_EQ(usmoe_router_get_config(reinterpret_cast<const usmoe_router*>(fake), &c),
            USMOE_STATUS_INVALID_ARGUMENT);
  // A plan passed where a router is expected (and the reverse) is caught too.
  usmoe_plan* plan = nullptr;
  ASSERT_EQ(usmoe_plan_create(&plan), USMOE_STATUS_SUCCESS);
  const float x[4] = {0, 0, 0, 0};
  EXPECT_EQ(usmoe_route(reinterpret_cast<const usmoe_router*>(plan), x, 1, nullptr, 0, nullptr, plan),
            USMOE_STATUS_INVALID_ARGUMENT);
  EXPECT_NE(LastError().find("not a live usmoe_router"), std::string::npos) << LastError();
  float y[4] = {1, 1, 1, 1};
  EXPECT_EQ(usmoe_experts_forward(reinterpret_cast<const usmoe_experts*>(plan), x, 1, plan, y),
            USMOE_STATUS_INVALID_ARGUMENT);
  EXPECT_EQ(y[0], 1.0f);
  usmoe_plan_destroy(plan);
  // Destroying something that is not a handle of that kind is a no-op.
  usmoe_router_destroy(reinterpret_cast<usmoe_router*>(fake));
  usmoe_experts_destroy(reinterpret_cast<usmoe_experts*>(fake));
  usmoe_plan_destroy(nullptr);
}

}  // namespace
