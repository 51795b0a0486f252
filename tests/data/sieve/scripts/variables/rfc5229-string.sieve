require ["variables", "fileinto"];
set "state" "${state} pending";
if string :matches " ${state} " "* pending *" {
    fileinto "always-${state}";
}
