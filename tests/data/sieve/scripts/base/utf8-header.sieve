require "fileinto";
if header :contains "subject" "Grüße" { fileinto "gruesse"; }
if header :contains "subject" "Köln" { fileinto "koeln"; }
if header :contains "subject" "€" { fileinto "euro"; }
if header :is "from" "Jörg Müller <joerg+news@EXAMPLE.de>" { fileinto "from-decoded"; }
if header :contains "subject" "Café" { fileinto "cafe"; }
if header :contains "subject" "CAFÉ" { fileinto "cafe-upper"; }
