#include "proxy/net/buffer_budget.h"

namespace bulwark::buffer_budget_detail {

constinit BufferBudget g_process_budget{BufferBudget::kDefaultLimit};

}  // namespace bulwark::buffer_budget_detail
