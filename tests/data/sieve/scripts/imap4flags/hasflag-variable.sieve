require ["imap4flags", "fileinto", "variables"];
set "v" "x y";
addflag "w" "z";
if hasflag :is "v" "y" { fileinto "vy"; }
if hasflag :is ["v", "w"] "z" { fileinto "vwz"; }
