require "reject";
if header :contains "subject" "pills" { reject "No pills, thanks."; }
