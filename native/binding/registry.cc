#include "registry.h"

namespace gprl {
namespace binding {

std::vector<Registration>& registry() {
  static std::vector<Registration> r;
  return r;
}

}  // namespace binding
}  // namespace gprl
