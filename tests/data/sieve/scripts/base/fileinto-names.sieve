require "fileinto";
if header :contains "subject" "report" { fileinto "Reports/2024"; }
if header :contains "subject" "menu" { fileinto "Café & Co"; }
if header :contains "subject" "deals" { fileinto "INBOX.Shopping.Deals"; }
