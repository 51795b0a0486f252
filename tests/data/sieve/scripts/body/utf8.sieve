require ["body", "fileinto"];
if body :text :contains "Caf" { fileinto "caf"; }
if body :raw :contains "crème" { fileinto "creme"; }
if body :content "text" :contains "&amp;" { fileinto "entity-raw"; }
