// Minimal text templating for emitted files: `{{key}}` placeholders in the files under
// templates/ are replaced by values. An unknown key is an internal error (thrown), so a
// template and its emitter cannot drift apart silently.
#pragma once

#include <map>
#include <string>
#include <string_view>

namespace tinyodlc {

std::string render_template(std::string_view name, std::string_view text,
                            const std::map<std::string, std::string>& vars);
// Renders an embedded template file, named by its path in the source tree ("templates/model.h.in").
std::string render_embedded(const std::string& name, const std::map<std::string, std::string>& vars);

}  // namespace tinyodlc
