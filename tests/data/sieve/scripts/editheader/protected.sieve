require ["editheader", "fileinto"];
deleteheader "received";
deleteheader "auto-submitted";
if exists "received" { fileinto "received-kept"; }
if exists "auto-submitted" { fileinto "auto-kept"; }
