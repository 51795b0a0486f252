require ["editheader", "fileinto"];
deleteheader "x-spam-level";
deleteheader :contains "x-custom" "ir";
if not exists "x-spam-level" { fileinto "level-gone"; }
if header :is "x-custom" "first" { fileinto "first-stays"; }
if header :is "x-custom" "third" { fileinto "third-stays"; }
